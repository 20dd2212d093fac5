"""``llmreg serve`` stops within bounds: workers die with their supervisor, and SIGTERM
gives streams in flight ``--graceful-timeout`` seconds, then ends them with an error event.

Real processes: ``llmreg serve`` (one process, or ``--workers 2``), a real upstream (the
fake OpenAI server) streaming slowly, and ``kill -9``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from support.serve_process import free_port

from .test_cli_serve import RUNNER, _env, _model

#: The plugins these servers load: the example loader, echo, the openai provider, serve.
PLUGINS = "llmreg-example,llmreg,llmreg-gateway,llmreg-litellm"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux processes")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return False  # a zombie: dead, waiting for init to reap it
    return True


def _start(tmp_path: Path, model: str, port: int, *extra: str, env: dict | None = None):
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", model, "--port", str(port), "--no-auth",
         "--reload-interval", "0", *extra],
        env={**_env(tmp_path), "LLMREG_LOAD_PLUGINS": PLUGINS, **(env or {})},
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _worker_pids(url: str, process: subprocess.Popen, count: int) -> set[int]:
    pids: set[int] = set()
    deadline = time.monotonic() + 90
    while len(pids) < count:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, f"only {pids} answered"
        try:
            with httpx.Client() as fresh:  # a new connection each time: any worker
                if fresh.get(f"{url}/ready").status_code == 200:
                    pids.add(fresh.get(f"{url}/health").json()["pid"])
        except httpx.TransportError:
            time.sleep(0.1)
    return pids


def test_workers_die_with_a_killed_supervisor_and_the_port_serves_again(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    port, model = free_port(), _model(tmp_path)
    url = f"http://127.0.0.1:{port}"
    env = {"TMPDIR": str(scratch)}
    first = _start(tmp_path, model, port, "--workers", "2", env=env)
    workers: set[int] = set()
    second = None
    try:
        workers = _worker_pids(url, first, 2)
        [folder] = list(scratch.glob("llmreg-metrics-*"))
        first.kill()  # kill -9: the supervisor cannot stop its workers
        first.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "the workers outlived their supervisor"
            time.sleep(0.1)
        assert folder.exists()  # nobody was left to remove it
        second = _start(tmp_path, model, port, "--workers", "2", env=env)
        assert not _worker_pids(url, second, 2) & workers
        assert not folder.exists()  # the next start removed the dead server's folder
        assert len(list(scratch.glob("llmreg-metrics-*"))) == 1
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(60)
        for pid in workers:  # on a failure, what outlived its supervisor
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _slow_stream_model(tmp_path: Path, base_url: str) -> str:
    folder = tmp_path / "slow-model"
    folder.mkdir()
    definition = {"provider": "openai", "model": "gpt-slow", "base_url": base_url,
                  "api_key": "env:SLOW_UPSTREAM_KEY", "max_retries": 0, "timeout": 120}  # fmt: skip
    (folder / "model_definition.json").write_text(json.dumps(definition))
    return f"folder:{folder}"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_ends_a_long_stream_after_the_grace_with_an_error_event(
    tmp_path, upstream, workers
):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    model = _slow_stream_model(tmp_path, upstream.base_url)
    server = _start(tmp_path, model, port, "--workers", workers, "--graceful-timeout", "1",
                    env={"SLOW_UPSTREAM_KEY": "sk-slow-1"})  # fmt: skip
    events: list[str] = []
    first_event = threading.Event()

    def read() -> None:
        words = " ".join(f"w{i}" for i in range(40))  # 40 chunks, 0.5 s apart: 20 s
        body = {"model": model, "stream": True,
                "messages": [{"role": "user", "content": f"[gap 500] {words}"}]}  # fmt: skip
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as answer:
            events.append(f"status {answer.status_code}")
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    events.append(line[6:])
                if len(events) > 2:
                    first_event.set()

    try:
        _worker_pids(url, server, 1)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert first_event.wait(30)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        exited = time.monotonic() - started
        reader.join(10)
    finally:
        if server.poll() is None:
            server.kill()
    assert exited < 8, f"the server took {exited:.1f} s to exit"  # not the stream's 20 s
    assert events[0] == "status 200"
    events = events[1:]
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert error["code"] == "server_shutting_down"
    assert 1 < len(events) < 30  # some text came, and the stream was cut short
