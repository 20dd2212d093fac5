"""A process that builds serving apps one after another, on other stores and loops, serves each.

The in-process host-app example once stayed ``loading`` after other suites had run in
the same pytest process. Its cause was a test's ``mlflow.set_tracking_uri`` left
behind (MLflow's process-wide URI wins over ``MLFLOW_TRACKING_URI``), not state kept
by ``llmreg_gateway`` or the pyfunc loader: this suite does what those suites did, an
app run by ``TestClient`` on one store, then the docs' host app (``create_app`` mounted,
its lifespan inside the host's) in uvicorn on another thread's loop and another store,
and checks each loads in the background and answers from its own store.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _environment_store() -> Iterator[None]:
    """MLFLOW_TRACKING_URI decides the store: forget a URI an earlier suite set in-process
    (test_registry_rest's, whose server has stopped), before and after each test."""
    import mlflow

    mlflow.set_tracking_uri(None)
    yield
    mlflow.set_tracking_uri(None)


def _saved(folder: Path, model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Save an echo model into the sqlite store in ``folder``, registered as chat@champion."""
    from llmreg import ModelDefinition, get_plugin_manager

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    manager = get_plugin_manager()
    saved = manager.saver().save(ModelDefinition(provider="echo", model=model))
    register = manager.register()
    ref = register.register("chat", saved.uri)
    register.promote("chat", ref.version, "champion")


def _wait_ready(get: object, deadline_s: float = 120.0) -> None:
    deadline = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            ready = get("/ready")  # type: ignore[operator]
            if ready.status_code == 200:
                return
            last = f"{ready.status_code} {ready.text[:300]}"
        time.sleep(0.1)
    raise AssertionError(f"never ready; last /ready: {last}")


@contextlib.contextmanager
def _uvicorn(app: object) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread (its own event loop); yield the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _ask(post: object) -> str:
    """The endpoint model that answered a ``/predict`` (it names the store's model)."""
    answer = post("/predict", json=["hi"])  # type: ignore[operator]
    assert answer.status_code == 200, answer.text
    return str(answer.json()["rows"][0]["metadata"]["model"])


def test_apps_built_one_after_another_each_load_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from llmreg_gateway import create_app

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    _saved(second, "echo-second", monkeypatch)
    _saved(first, "echo-first", monkeypatch)  # the environment names the first store now

    with TestClient(create_app("models:/chat@champion", reload_interval=0)) as http:
        _wait_ready(http.get)
        assert _ask(http.post) == "echo-first"

    # the docs' host app, on the second store, in another thread's event loop
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{second / 'mlflow.db'}")
    llm = create_app("models:/chat@champion", reload_interval=30)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with llm.router.lifespan_context(llm):
            yield

    host = FastAPI(lifespan=lifespan)
    host.mount("/llm", llm)
    with _uvicorn(host) as url, httpx.Client(base_url=f"{url}/llm", timeout=30) as http_b:
        _wait_ready(http_b.get)
        assert _ask(http_b.post) == "echo-second"

    # and a third app, back on the first store, on a loop of its own again
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{first / 'mlflow.db'}")
    third = create_app("models:/chat@champion", reload_interval=0)
    with _uvicorn(third) as url, httpx.Client(base_url=url, timeout=30) as http_c:
        _wait_ready(http_c.get)
        assert _ask(http_c.post) == "echo-first"


def test_a_tracking_uri_set_in_the_process_wins_and_an_unreachable_one_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the earlier suites left behind: ``mlflow.set_tracking_uri`` to a server that has
    stopped. MLflow's process-wide URI wins over ``MLFLOW_TRACKING_URI``, so the app asks
    that server; /ready says so within seconds. Before the alias was read over REST
    (386152b) it said ``loading`` for some four minutes while MLflow's client retried;
    a version URI (``models:/chat/1``) still goes through those retries."""
    import mlflow
    from fastapi.testclient import TestClient

    from llmreg_gateway import create_app

    _saved(tmp_path, "echo-env", monkeypatch)  # the environment names a store that works
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed
    mlflow.set_tracking_uri(dead)
    try:
        started = time.monotonic()
        with TestClient(create_app("models:/chat@champion", reload_interval=0)) as http:
            while (ready := http.get("/ready")).json()["status"] == "loading":
                assert time.monotonic() - started < 30, "still loading after 30 s"
                time.sleep(0.1)
    finally:
        mlflow.set_tracking_uri(None)
    assert ready.status_code == 503
    assert ready.json()["status"] == "failed"
    assert "StoreUnavailableError" in ready.json()["error"]
    assert dead not in ready.json()["error"]  # the registry's URL is for the log only
