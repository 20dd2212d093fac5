"""Two ``llmreg serve`` replicas on one ``mlflow server`` registry follow one alias move.

This is docs/serving.md's replica example: the servers hold no state of their own, so
a load balancer can send any request to either; ``llmreg promote`` moves the alias and
each replica's poll swaps the new version in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.mlflow_server import running_mlflow_server
from support.openai_server import FakeOpenAIServer
from support.serve_process import free_port

from .test_serve_cli import _env

pytestmark = pytest.mark.integration

KEY = "sk-replicas-42"
EXE = str(Path(sys.executable).parent / "llmreg")


def _run(folder: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run([EXE, *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, f"llmreg {' '.join(args)}: {done.stderr}"


def _version(url: str) -> str | None:
    answer = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    return answer.headers.get("x-llmreg-model-version") if answer.status_code == 200 else None


def test_two_replicas_swap_an_alias_together(tmp_path):
    with running_mlflow_server(tmp_path / "mlflow") as registry, FakeOpenAIServer() as endpoint:
        env = {**_env(), "MLFLOW_TRACKING_URI": registry.url, "LLMREG_API_KEY": KEY}
        for model in ("gpt-one", "gpt-two"):
            config = {"provider": "openai", "model": model, "base_url": endpoint.base_url,
                      "api_key": "env:FAKE_KEY"}  # fmt: skip
            (tmp_path / f"{model}.json").write_text(json.dumps(config))
        _run(tmp_path, env, "save", "gpt-one.json", "--register", "--name", "chat",
             "--alias", "champion")  # fmt: skip
        _run(tmp_path, env, "save", "gpt-two.json", "--register", "--name", "chat")
        replicas, urls = [], []
        try:
            for _ in range(2):
                port = free_port()
                replicas.append(subprocess.Popen(
                    [EXE, "serve", "models:/chat@champion", "--port", str(port),
                     "--reload-interval", "1", "--api-key", "env:LLMREG_API_KEY"],
                    cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    text=True,
                ))  # fmt: skip
                urls.append(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + 240
            for url, process in zip(urls, replicas, strict=True):
                while True:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    try:
                        if _version(url) == "1":
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, f"{url} never served version 1"
                    time.sleep(0.2)
            _run(tmp_path, env, "promote", "chat", "2")
            for url in urls:
                while _version(url) != "2":
                    assert time.monotonic() < deadline, f"{url} never swapped to version 2"
                    time.sleep(0.2)
        finally:
            for process in replicas:
                process.send_signal(signal.SIGTERM)
            logs = [process.communicate(timeout=30)[1] for process in replicas]
        for log in logs:
            assert "alias swap" in log and "version 2 (was 1)" in log
            assert KEY not in log
        assert os.environ.get("LLMREG_API_KEY") != KEY
