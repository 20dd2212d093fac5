"""``llmreg serve --workers 2``: /metrics counts every worker's requests, whichever worker
answers it (prometheus-client's multiprocess mode in a folder the server makes and removes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx

from .test_cli_serve import RUNNER, _env, _model

#: The plugins these servers load: the example loader, echo, and the gateway's serve.
PLUGINS = "llmreg-example,llmreg,llmreg-gateway"

REQUESTS = 12


def _count(text: str) -> float:
    pattern = r'llmreg_requests_total\{[^}]*route="/predict"[^}]*status="200"[^}]*\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, text))


def test_metrics_are_summed_over_the_workers_and_the_folder_removed(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**_env(tmp_path), "LLMREG_LOAD_PLUGINS": PLUGINS, "W_KEY": "sk-w-2",
           "TMPDIR": str(scratch)}  # fmt: skip
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", _model(tmp_path), "--port", "0", "--json",
         "--workers", "2", "--api-key", "env:W_KEY"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    user = {"Authorization": "Bearer sk-w-2"}
    clients: dict[int, httpx.Client] = {}  # one kept-alive connection to each worker
    try:
        url = json.loads(process.stdout.readline())["url"]
        deadline = time.monotonic() + 60
        while len(clients) < 2:
            assert time.monotonic() < deadline, f"one worker answered: {set(clients)}"
            client = httpx.Client(base_url=url)
            try:
                pid = client.get("/health").json()["pid"]
            except httpx.TransportError:
                client.close()
                time.sleep(0.1)
                continue
            if pid in clients:
                client.close()
            else:
                clients[pid] = client
        for client in clients.values():
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert len(list(scratch.glob("llmreg-metrics-*"))) == 1
        sent = 0
        for share, client in zip((5, 7), clients.values(), strict=True):
            for _ in range(share):
                assert client.post("/predict", json=["hi"], headers=user).status_code == 200
                sent += 1
        for pid, client in clients.items():  # each worker counts the other's requests too
            assert client.get("/health").json()["pid"] == pid
            text = client.get("/metrics").text
            assert _count(text) == sent == REQUESTS, text
    finally:
        for client in clients.values():
            client.close()
        process.terminate()
        _, err = process.communicate(timeout=60)
    assert process.returncode is not None
    assert list(scratch.glob("llmreg-metrics-*")) == []  # removed when the server stopped
    assert "sk-w-2" not in err
