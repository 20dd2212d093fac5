"""Load: many threads through one loaded model, many processes registering at once, and the
serving app under concurrent clients.

Every answer is matched to its own input (the fake endpoint answers ``echo: <input>``),
so a mixed-up or dropped answer counts as an error, not only an exception.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliability import tally
from reliability.models import KEY_VAR, definition, llmreg_command, load, register, save
from reliability.stores import Store, cli_env

from support.mlflow_server import MlflowServer, free_port
from support.openai_server import FakeOpenAIServer

#: Seconds a test that starts servers or processes may take on a loaded 2-core machine.
SLOW_TEST_TIMEOUT = 900

THREADS = 50
PREDICTIONS_PER_THREAD = 6
PROCESSES = 8
CLIENTS = 32
SERVE_SECONDS = 20.0


def test_50_threads_predict_through_one_loaded_model(
    store: Store, api_key: str, fake_openai: FakeOpenAIServer
) -> None:
    """50 threads share one adapter: no error, and each answer belongs to its own input."""
    adapter = load(f"models:/threads/{register('threads', save(definition(fake_openai.base_url)))}")
    start = threading.Barrier(THREADS)

    def worker(index: int) -> list[str]:
        start.wait()
        problems = []
        for n in range(PREDICTIONS_PER_THREAD):
            text = f"thread {index} question {n}"
            try:
                row = adapter.predict([text]).rows[0]
            except Exception as exc:  # counted and reported below
                problems.append(f"{text}: {type(exc).__name__}: {exc}")
                continue
            if row.prediction != f"echo: {text}":
                problems.append(f"{text}: answered {row.prediction!r} ({row.metadata})")
        return problems

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    problems = [p for r in results for p in r]
    tally.note(
        "load",
        threads=THREADS,
        thread_errors=len(problems),
        predictions=THREADS * PREDICTIONS_PER_THREAD - len(problems),
    )
    assert problems == []


# --- concurrent registration against mlflow server ------------------------------------------

REGISTER_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from llmreg import ModelDefinition
from llmreg.manager import get_plugin_manager

index, name, folder = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
pm = get_plugin_manager()
model = ModelDefinition(provider="openai", model="concurrent", base_url="http://127.0.0.1:9/v1",
                        system_prompt=f"process {index}")
uri = pm.saver({"KIND": "CustomSaver"}).save(model).uri
(folder / f"ready-{index}").write_text("ready")
deadline = time.monotonic() + 300
while not (folder / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
version = pm.register({"KIND": "MlflowRegister"}).register(name, uri)
print(json.dumps({"index": index, "version": int(version.version), "model_uri": uri}))
"""


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_8_processes_register_concurrently_and_every_version_is_accounted_for(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """8 processes save, wait at a barrier, then register under one name at the same moment:
    8 versions exist, numbered 1 to 8, each returned to exactly one process."""
    from mlflow import MlflowClient

    name = f"concurrent-{uuid.uuid4().hex[:8]}"
    env = {**cli_env(Store(tmp_path)), "MLFLOW_TRACKING_URI": mlflow_server.url}
    env["MLFLOW_REGISTRY_URI"] = mlflow_server.url
    (tmp_path / "tmp").mkdir(exist_ok=True)
    script = tmp_path / "register_one.py"
    script.write_text(REGISTER_SCRIPT, encoding="utf-8")
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), name, str(tmp_path)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    deadline = time.monotonic() + 300
    while len(list(tmp_path.glob("ready-*"))) < PROCESSES and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in processes):
            break
        time.sleep(0.05)
    (tmp_path / "go").write_text("go")
    outputs = [p.communicate(timeout=300) for p in processes]
    failures = [
        f"process {i}: {err[-800:]}"
        for i, (p, (_, err)) in enumerate(zip(processes, outputs, strict=True))
        if p.returncode != 0
    ]
    reported = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs if out.strip()]
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    stored = client.search_model_versions(f"name = '{name}'")
    by_version = {int(v.version): v for v in stored}
    accounted = sorted(r["version"] for r in reported if r["version"] in by_version)
    tally.note(
        "load", processes=PROCESSES, versions=len(stored), versions_accounted=len(set(accounted))
    )
    assert failures == []
    assert sorted(by_version) == list(range(1, PROCESSES + 1))
    assert accounted == list(range(1, PROCESSES + 1))
    assert all(v.status == "READY" for v in stored)
    hashes = {v.tags.get("llmreg_content_hash") for v in stored}
    assert len(hashes) == PROCESSES and None not in hashes, "versions share or lack a content hash"


# --- the serving app under load ---------------------------------------------------------------


@pytest.fixture
def served(store: Store, api_key: str, fake_openai: FakeOpenAIServer) -> Iterator[str]:
    """``llmreg serve models:/served/1`` in its own process on a free loopback port."""
    version = register("served", save(definition(fake_openai.base_url)))
    port = free_port()
    log = (store.folder / "serve.log").open("w")
    process = subprocess.Popen(
        [
            *llmreg_command(),
            "serve",
            f"models:/served/{version}",
            "--port",
            str(port),
            "--reload-interval",
            "0",
            "--no-auth",
        ],
        env=cli_env(store, **{KEY_VAR: api_key}),
        cwd=store.folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, store.folder / "serve.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


def _wait_ready(url: str, process: Any, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llmreg serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llmreg serve did not get ready: {log.read_text()[-2000:]}")


def _one_request(http: httpx.Client, client: int, n: int) -> str | None:
    """Send one request (``/predict`` or chat, alternately); return a problem or ``None``."""
    text = f"client {client} request {n}"
    if n % 2:
        response = http.post("/predict", json={"rows": [{"input": text}]})
        answer = response.json()["rows"][0]["prediction"] if response.status_code == 200 else None
    else:
        body = {"model": "served", "messages": [{"role": "user", "content": text}]}
        response = http.post("/v1/chat/completions", json=body)
        ok = response.status_code == 200
        answer = response.json()["choices"][0]["message"]["content"] if ok else None
    if response.status_code != 200:
        return f"{text}: HTTP {response.status_code} {response.text[:200]}"
    if answer != f"echo: {text}":
        return f"{text}: answered {answer!r}"
    return None


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_the_serving_app_under_32_concurrent_clients(served: str) -> None:
    """32 clients for 20 s against ``llmreg serve``: 0 errors, each answer its own; p50/p99."""
    deadline = time.monotonic() + SERVE_SECONDS

    def client(index: int) -> tuple[list[float], list[str]]:
        latencies: list[float] = []
        problems: list[str] = []
        with httpx.Client(base_url=served, timeout=30) as http:
            for n in range(100_000):
                if time.monotonic() >= deadline:
                    break
                start = time.perf_counter()
                try:
                    problem = _one_request(http, index, n)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    problem = f"client {index} request {n}: {type(exc).__name__}: {exc}"
                latencies.append((time.perf_counter() - start) * 1000)
                if problem:
                    problems.append(problem)
        return latencies, problems

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))
    latencies = [t for r in results for t in r[0]]
    problems = [p for r in results for p in r[1]]
    tally.note("load", clients=CLIENTS, requests=len(latencies), serve_errors=len(problems))
    tally.note_latencies(latencies)
    print(
        f"serve: {len(latencies)} requests, p50 {tally.percentile(latencies, 0.5):.1f} ms, "
        f"p99 {tally.percentile(latencies, 0.99):.1f} ms"
    )
    assert problems == [], problems[:10]
    assert len(latencies) >= CLIENTS
