"""A saved model installs and serves where llmreg is on no package index.

The model carries the wheels of llmreg, llmreg-pyfunc, llmreg-mlflow and
llmreg-litellm (the provider's distribution), named in its requirements.txt, so
MLflow's own environment managers build its environment from them and the index
(for mlflow, openai...). These tests run MLflow's CLI as a user would, against a
registered ``models:/chat@champion`` answering through the fake OpenAI endpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.slow

KEY_ENV = "LLMREG_ENVMGR_TEST_KEY"
KEY = "sk-envmgr-canary-0c4e2a"
URI = "models:/chat@champion"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAIServer]:
    """The fake OpenAI endpoint the served model answers through."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, endpoint: FakeOpenAIServer) -> Path:
    """A sqlite store holding ``chat@champion``, saved with its wheels (the default)."""
    from llmreg.definition import ModelDefinition
    from llmreg.manager import PluginManager

    folder = tmp_path_factory.mktemp("envmanagers")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        mp.chdir(folder)
        manager = PluginManager()
        saved = manager.saver().save(
            ModelDefinition(
                provider="openai",
                model="served-model",
                base_url=endpoint.base_url,
                api_key=f"env:{KEY_ENV}",
                max_retries=0,
            )
        )
        register = manager.register()
        ref = register.register("chat", saved.uri)
        register.promote("chat", ref.version, "champion")
    return folder


def _env(root: Path, envs: str) -> dict[str, str]:
    """The environment of an MLflow command: its own env root (MLflow names an env by the
    model's requirements only, so a second manager would reuse the first one's env)."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_ENV_ROOT": str(root / envs),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        KEY_ENV: KEY,
    }


def _requirements(root: Path) -> list[str]:
    (found,) = root.glob("mlruns/*/models/*/artifacts/requirements.txt")
    return found.read_text().split()


def test_requirements_name_the_bundled_wheels(root: Path) -> None:
    lines = _requirements(root)
    wheels = sorted(line for line in lines if line.endswith(".whl"))
    assert [w.split("/")[-1].split("-")[0] for w in wheels] == [
        "llmreg",
        "llmreg_litellm",
        "llmreg_mlflow",
        "llmreg_pyfunc",
    ]
    assert all(w.startswith("artifacts/wheels/") for w in wheels)
    assert not [line for line in lines if line.startswith("llmreg")]  # no index pin left


def test_prepare_env_with_uv_installs_the_model(root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "prepare-env", "-m", URI, "--env-manager", "uv"],
        env=_env(root, "uv-envs"),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (python,) = (root / "uv-envs").glob("mlflow-*/bin/python")
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import llmreg, llmreg_pyfunc, llmreg_litellm, llmreg_mlflow;"
            "print(llmreg_pyfunc.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    # installed from the model's wheels into the new env, not the editable source tree
    assert str(python.parent.parent) in probe.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - an http URL on 127.0.0.1
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return dict(json.loads(answer.read()))


def test_serve_with_the_default_env_manager_answers(root: Path, endpoint: FakeOpenAIServer) -> None:
    port = _free_port()
    log = (root / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", URI, "-p", str(port)],
        env=_env(root, "virtualenv-envs"),
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 480
        while True:
            assert server.poll() is None, (root / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow models serve did not start in 8 minutes"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        answer = _post(
            f"http://127.0.0.1:{port}/invocations", {"dataframe_records": [{"input": "hello"}]}
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    (row,) = answer["predictions"]
    assert row["prediction"] == "echo: hello"
    assert row["metadata"]["status"] == "ok"
    assert endpoint.chat_requests("served-model")[-1].authorization == f"Bearer {KEY}"
    # built by the default manager (virtualenv: pyenv's python, venv, pip), not reused
    text = (root / "serve.log").read_text()
    assert "Creating a new environment in" in text and "using uv" not in text
    assert any((root / "virtualenv-envs").glob("mlflow-*/bin/python"))
