"""Runs the examples of docs/serving.md against a real store, ``llmreg serve`` and the endpoint.

The model ``chat`` (v1 champion, v2) is saved through the CLI into a sqlite
store in a temp folder. The page's ``llmreg serve`` line runs with its port
replaced by a free one; ``client.py`` runs against it; the reload example runs
(``llmreg promote`` and ``curl``); ``host.py`` is executed and its app served.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support.docs import marked
from support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.integration

PAGE = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.S)


def page_blocks() -> dict[str, str]:
    """The page's titled blocks by title, and its console blocks as ``console-<n>``."""
    out: dict[str, str] = {}
    consoles = 0
    for lang, head, body in BLOCK.findall(PAGE.read_text()):
        title = re.search(r'title="([^"]+)"', head)
        if title:
            out[title.group(1)] = body
        elif lang == "console":
            out[f"console-{consoles}"] = body
            consoles += 1
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The keys the page's server is started with (``--api-key env:LLMREG_API_KEY``, ...).
DOC_KEYS = {"LLMREG_API_KEY": "sk-docs-user-5f0c1e", "LLMREG_ADMIN_KEY": "sk-docs-admin-9a8b7c"}


def env_for(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    env["OPENAI_API_KEY"] = "sk-serve-docs"
    env["LLMREG_API_KEY"] = DOC_KEYS["LLMREG_API_KEY"]
    env["LLMREG_ADMIN_KEY"] = DOC_KEYS["LLMREG_ADMIN_KEY"]
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    return env


def run(folder: Path, line: str) -> subprocess.CompletedProcess[str]:
    argv = [os.path.expandvars(a) if "$LLMREG_" in a else a for a in shlex.split(line)]
    for name, value in DOC_KEYS.items():
        argv = [a.replace(f"${name}", value) for a in argv]
    if argv[0] == "llmreg":
        argv[0] = str(Path(sys.executable).parent / "llmreg")
    done = subprocess.run(
        argv, cwd=folder, env=env_for(folder), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{line}: {done.stderr}"
    return done


def wait_ready(url: str, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 240
    last = "no answer"
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "the server exited"
        with contextlib.suppress(httpx.TransportError):
            ready = httpx.get(f"{url}/ready")
            if ready.status_code == 200:
                return
            last = f"{ready.status_code} {ready.text[:500]}"
        time.sleep(0.1)
    raise AssertionError(f"{url} never became ready; last /ready: {last}")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("servedocs")
    with FakeOpenAIServer() as endpoint:
        for model, temperature in (("gpt-a", 0.0), ("gpt-b", 0.7)):
            config = {
                "provider": "openai",
                "model": model,
                "base_url": endpoint.base_url,
                "api_key": "env:OPENAI_API_KEY",
                "temperature": temperature,
            }
            (folder / f"{model}.json").write_text(json.dumps(config))
        run(folder, "llmreg save gpt-a.json --register --name chat --alias champion")
        run(folder, "llmreg save gpt-b.json --register --name chat")
        yield folder


def test_the_blocks_run_here_are_the_ones_the_page_marks():
    ran = marked("docs/serving.md", "serving")
    assert [b.title or b.lang for b in ran] == ["console", "client.py", "console", "host.py"]
    assert "$ llmreg serve" in ran[0].body and "/admin/reload" in ran[2].body


def test_serve_client_and_reload_examples(store, monkeypatch):
    blocks = page_blocks()
    serve_line = next(
        line[2:] for b in blocks.values() for line in b.splitlines() if "$ llmreg serve" in line
    )
    port = free_port()
    argv = shlex.split(serve_line.replace("8000", str(port)))
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "llmreg"), *argv[1:]],
        cwd=store,
        env=env_for(store),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        out = io.StringIO()
        for name, value in DOC_KEYS.items():  # the page's client.py reads LLMREG_API_KEY
            monkeypatch.setenv(name, value)
        with contextlib.redirect_stdout(out):
            exec(blocks["client.py"].replace("8000", str(port)), {})  # noqa: S102 - the doc's code
        assert out.getvalue() == "echo: What is MLflow?\necho: Stream it."
        reload_block = next(b for b in blocks.values() if "admin/reload" in b and "$ curl" in b)
        outputs = [
            run(store, line[2:].replace("8000", str(port)))
            for line in reload_block.splitlines()
            if line.startswith("$ ")
        ]
        reloaded = json.loads(outputs[-1].stdout)
        assert reloaded["changed"] is True
        assert str(reloaded["current"]["version"]) == "2"
        user = {"Authorization": f"Bearer {DOC_KEYS['LLMREG_API_KEY']}"}
        assert httpx.post(f"{url}/predict", json=["now"]).status_code == 401
        row = httpx.post(f"{url}/predict", json=["now"], headers=user).json()["rows"][0]
        assert row["metadata"]["model"] == "gpt-b"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        run(store, "llmreg promote chat 1")


def test_host_app_example(store, tmp_path):
    """The doc's host app, run as a host runs it: its own process, uvicorn, the mount."""
    (tmp_path / "host.py").write_text(page_blocks()["host.py"], encoding="utf-8")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "host:host", "--port", str(port)]
    host = subprocess.Popen(
        [*command, "--log-level", "warning"],
        cwd=tmp_path,
        env={**os.environ, **env_for(store), "PYTHONPATH": str(tmp_path)},
        text=True,
    )
    try:
        wait_ready(f"{url}/llm", host)  # loaded by the host's lifespan, before any request
        answer = httpx.post(
            f"{url}/llm/v1/chat/completions",
            json={"model": "chat", "messages": [{"role": "user", "content": "mounted"}]},
        )
        assert answer.json()["choices"][0]["message"]["content"] == "echo: mounted"
    finally:
        host.terminate()
        host.wait(30)
