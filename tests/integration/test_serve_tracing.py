"""``llmreg serve --trace`` for real: a plain and a streamed chat completion each leave one
MLflow trace in the CLI's default store, recorded off the request path and flushed
when the server stops (SIGTERM); ``--no-trace`` leaves none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

from support.openai_server import FakeOpenAIServer
from support.serve_process import free_port, wait_serving

pytestmark = pytest.mark.integration


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LLMREG_TRAC"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    return env


def _serve_and_chat(folder: Path, switch: str) -> None:
    exe = str(Path(sys.executable).parent / "llmreg")
    port = free_port()
    process = subprocess.Popen(
        [exe, "serve", "models:/traced@champion", "--port", str(port), "--no-auth",
         "--reload-interval", "0", switch],
        cwd=folder, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_serving(url, process)
        with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as client:
            plain = client.chat.completions.create(
                model="traced", messages=[{"role": "user", "content": "plain one"}]
            )
            assert plain.choices[0].message.content == "echo: plain one"
            streamed = client.chat.completions.create(
                model="traced",
                messages=[{"role": "user", "content": "streamed one"}],
                stream=True,
            )
            text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
            assert text == "echo: streamed one"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def _traces(folder: Path) -> list[Any]:
    code = (
        "import json, mlflow\n"
        "ids = [e.experiment_id for e in mlflow.search_experiments()]\n"
        "found = mlflow.search_traces(locations=ids, return_type='list')\n"
        "print(json.dumps([[s.name, s.outputs] for t in found for s in t.data.spans]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        env={**_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_serve_traces_plain_and_streamed_requests(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "llmreg")
    with FakeOpenAIServer() as endpoint:
        config = {"provider": "openai", "model": "gpt-traced", "base_url": endpoint.base_url}
        (tmp_path / "traced.json").write_text(json.dumps(config))
        subprocess.run(
            [exe, "save", "traced.json", "--register", "--name", "traced", "--alias", "champion"],
            cwd=tmp_path, env=_env(), check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        _serve_and_chat(tmp_path, "--no-trace")
        assert _traces(tmp_path) == []
        _serve_and_chat(tmp_path, "--trace")
    spans = _traces(tmp_path)
    answers = sorted(out["answer"] for name, out in spans if name.startswith("llmreg.request"))
    assert answers == ["echo: plain one", "echo: streamed one"]
    assert sum(1 for name, _ in spans if name.startswith("llmreg.predict")) == 2
