"""Fixtures of the console suite: a real sqlite MLflow store with echo and shout
versions (llmreg-pyfunc), the console mounted at ``/console`` on a real uvicorn
server on 127.0.0.1, and a real headless Chromium driven by Playwright.

Playwright cannot download its own browser here: it launches Debian's
``chromium`` (``.ci/run`` installs it). The tests take screenshots into
``docs/console/``, which ``docs/console.md`` shows.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from llmreg.definition import ModelDefinition
from support.console_site import CHROMIUM, MODEL, Site


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh sqlite MLflow store, set as the tracking URI; its URI."""
    root = tmp_path_factory.mktemp("console-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        patch.chdir(root)  # a sqlite store's default artifact root is ./mlruns
        yield uri


@pytest.fixture(scope="session")
def versions(store: str) -> Any:
    """``support-bot`` v1 (echo), v2 (shout), v3 (echo, another temperature); @champion
    on v1. Returns the register."""
    from llmreg_mlflow import MlflowRegister
    from llmreg_pyfunc import CustomSaver

    register = MlflowRegister(tracking_uri=store)
    saver = CustomSaver(experiment="console")
    for definition in (
        ModelDefinition(provider="echo", model="echo-1", temperature=0.1),
        ModelDefinition(provider="shout", model="shout-1", temperature=0.1),
        ModelDefinition(provider="echo", model="echo-1", temperature=0.7),
    ):
        register.register(MODEL, saver.save(definition).uri)
    register.promote(MODEL, 1, "champion")
    return register


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def site(store: str, versions: Any) -> Iterator[Site]:
    """The console mounted at ``/console`` on uvicorn in a thread, plus ``GET /whoami``,
    which answers 200 for a key the controls' ``identify`` accepts, else 401."""
    from llmreg.manager import get_plugin_manager
    from llmreg_gateway.console import create_console
    from llmreg_gateway.controls import Controls
    from llmreg_gateway.controls.settings import ControlSettings
    from llmreg_gateway.rollout.stats import InProcessSink

    key = "console-" + secrets.token_urlsafe(16)
    os.environ["LLMREG_CONSOLE_TEST_KEY"] = key
    loader = get_plugin_manager().loader({"KIND": "CustomLoader"})
    controls = Controls.from_settings(ControlSettings(key_refresh=0.0))
    stats = InProcessSink()
    console = create_console(
        admin_key="env:LLMREG_CONSOLE_TEST_KEY", register=versions, loader=loader,
        controls=controls, stats=stats, tracking_uri=store,
    )  # fmt: skip

    async def whoami(request: Request) -> JSONResponse:
        found = await controls.identify(request.headers.get("authorization"))
        if found is None:
            return JSONResponse({"error": "refused"}, 401)
        return JSONResponse({"id": found.key_id})

    app = Starlette(routes=[Route("/whoami", whoami), Mount("/console", console)])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start in 20 s"
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", key, versions, loader, controls, stats, store)
    finally:
        server.should_exit = True
        thread.join(10)
        os.environ.pop("LLMREG_CONSOLE_TEST_KEY", None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), through Playwright."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        launched = play.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()
