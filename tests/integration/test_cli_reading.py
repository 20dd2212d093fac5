"""Reading commands need no provider key, through the real pyfunc loader and its lease cache.

A model whose ``api_key`` is ``env:LLMREG_READ_KEY`` is saved and registered while the
variable is set; then, with it unset, ``llmreg show`` and ``llmreg diff`` work (fresh
processes, the CLI's default sqlite store), ``predict`` names the variable, and in-process
the loader's deferred load hands out a LazyClient that the lease cache keeps and closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.integration

KEY = "sk-read-0123456789abcdef"


def _env(key: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.pop("LLMREG_READ_KEY", None)
    if key:
        env["LLMREG_READ_KEY"] = KEY
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    return env


def llmreg(folder: Path, *args: str, key: bool = False) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "llmreg")
    return subprocess.run(
        [exe, *args], cwd=folder, env=_env(key), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FakeOpenAIServer]]:
    """Two versions of ``reader`` (temperature 0.1 then 0.6) in a fresh folder's store."""
    folder = tmp_path_factory.mktemp("reading")
    with FakeOpenAIServer() as server:
        for temperature in (0.1, 0.6):
            config = folder / f"t{temperature}.json"
            config.write_text(
                json.dumps(
                    {
                        "provider": "openai",
                        "model": "reader",
                        "base_url": server.base_url,
                        "api_key": "env:LLMREG_READ_KEY",
                        "temperature": temperature,
                    }
                )
            )
            done = llmreg(folder, "save", str(config), "--register", "--name", "reader", key=True)
            assert done.returncode == 0, done.stderr
        yield folder, server


def test_show_and_diff_need_no_key_and_predict_names_it(saved):
    folder, _ = saved
    shown = llmreg(folder, "show", "models:/reader/latest", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["info"]["version"] == 2 and data["definition"]["temperature"] == 0.6
    diff = llmreg(folder, "diff", "models:/reader/1", "models:/reader/2", "--json")
    assert diff.returncode == 0, diff.stderr
    assert json.loads(diff.stdout)["changes"] == [{"key": "temperature", "left": 0.1, "right": 0.6}]
    predicted = llmreg(folder, "predict", "models:/reader/1", "hi", "--json")
    assert predicted.returncode == 1
    error = json.loads(predicted.stdout)["error"]
    assert error["type"] == "SecretResolutionError" and "LLMREG_READ_KEY" in error["message"]
    answered = llmreg(folder, "predict", "models:/reader/1", "hi", key=True)
    assert answered.returncode == 0 and answered.stdout.strip() == "echo: hi"


def test_a_deferred_load_leases_a_lazy_client_built_at_the_first_predict(saved, monkeypatch):
    from llmreg.adapter import LazyClient, deferred_clients
    from llmreg.errors import SecretResolutionError
    from llmreg_pyfunc import CustomLoader

    folder, server = saved
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    monkeypatch.delenv("LLMREG_READ_KEY", raising=False)
    loader = CustomLoader()
    with deferred_clients():
        first = loader.load("models:/reader/1")
    lazy = first.client
    assert isinstance(lazy, LazyClient) and not lazy.built
    with pytest.raises(SecretResolutionError):
        first.predict("hi")
    monkeypatch.setenv("LLMREG_READ_KEY", KEY)
    second = loader.load("models:/reader/1")  # the cached model: the same lazy client
    assert second.client is lazy
    assert second.predict("hi").rows[0].prediction == "echo: hi"
    assert lazy.built
    assert server.chat_requests(model="reader")[-1].authorization == f"Bearer {KEY}"
    first.close()
    second.close()
