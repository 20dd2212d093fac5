"""``llmreg serve --workers 2``: two processes answer on one port, each checking keys."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx

from .test_cli_serve import RUNNER, _env, _model

#: The plugins these servers load: the example loader, echo, and the gateway's serve.
PLUGINS = "llmreg-example,llmreg,llmreg-gateway"


def test_two_workers_answer_on_one_port(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", _model(tmp_path), "--port", "0", "--json",
         "--workers", "2", "--api-key", "env:W_KEY"],
        env={**_env(tmp_path), "LLMREG_LOAD_PLUGINS": PLUGINS, "W_KEY": "sk-w-1"},
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = json.loads(process.stdout.readline())["url"]
        pids: set[int] = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2:
            assert time.monotonic() < deadline, f"one worker answered: {pids}"
            try:
                with httpx.Client() as fresh:  # a new connection each time
                    pids.add(fresh.get(f"{url}/health").json()["pid"])
            except httpx.TransportError:
                time.sleep(0.1)
        assert process.pid not in pids
        user = {"Authorization": "Bearer sk-w-1"}
        for _ in range(4):
            with httpx.Client() as fresh:
                while fresh.get(f"{url}/ready").status_code != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                answer = fresh.post(f"{url}/predict", json=["hi"], headers=user)
                assert answer.json()["rows"][0]["prediction"] == "echo: hi"
                assert fresh.post(f"{url}/predict", json=["hi"]).status_code == 401
    finally:
        process.terminate()
        _, err = process.communicate(timeout=60)
    assert "sk-w-1" not in err
    assert err.count('"status":200') >= 4
