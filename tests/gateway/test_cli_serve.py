"""``llmreg serve`` binds before it announces: a port in use is one line and exit code 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx

RUNNER = (
    "import sys\n"
    "from llmreg.manager import get_plugin_manager\n"
    "from llmreg.testing import echo_plugin\n"
    "get_plugin_manager().register_plugin(echo_plugin)\n"
    "from llmreg.cli import main\n"
    "main(sys.argv[1:])\n"
)


def _model(tmp_path) -> str:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model_definition.json").write_text(json.dumps({"provider": "echo", "model": "m"}))
    return f"folder:{folder}"


def _env(tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "LLMREG_LOAD_PLUGINS": "llmreg-example,llmreg-gateway",
        "LLMREG_LOADER": "FolderLoader",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }


def test_a_port_in_use_fails_at_once_with_one_line_and_exit_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, "serve", _model(tmp_path), "--port", str(port)],
            env=_env(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines == [
        f"error: ServeError: cannot serve on 127.0.0.1:{port}: Address already in use "
        "(another process listens there: choose another --port)"
    ]
    assert "serving" not in done.stderr and done.stdout == ""


def test_port_0_announces_the_port_it_listens_on(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUNNER,
            "serve",
            _model(tmp_path),
            "--port",
            "0",
            "--json",
            "--no-auth",
        ],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = json.loads(process.stdout.readline())
        assert not started["url"].endswith(":0")
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.post(f"{started['url']}/predict", json=["hi"], timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.json()["rows"][0]["prediction"] == "echo: hi"
    finally:
        process.terminate()
        process.communicate(timeout=30)
