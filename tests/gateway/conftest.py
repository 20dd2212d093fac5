"""Fixtures for the serving app: uvicorn on a loopback port in a thread, and a switchable Loader.

The app is served for real (uvicorn, HTTP over 127.0.0.1) and called with the
official ``openai`` client and with httpx. The model is a test Loader whose
target a test can switch, answering through the core's echo provider.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

import httpx
import pytest
import uvicorn

from llmreg import Adapter, Inputs, Loader, ModelDefinition, Outputs, Result, hookimpl
from llmreg.errors import ModelNotFoundError, PredictionError
from llmreg.testing import EchoClient, echo_plugin, isolated_manager

URI = "models:/chat@champion"
#: A function tool for the pass-through tests (the fake OpenAI server calls it).
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "look a word up",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
}


class EchoAdapter(Adapter):
    """Answers through the echo client; a failed row is ``status: error``, or raises if strict."""

    def __init__(self, definition: ModelDefinition, info: dict[str, Any]) -> None:
        self._definition = definition
        self._info = info
        self._client = EchoClient(definition)

    @property
    def definition(self) -> ModelDefinition:
        return self._definition

    @property
    def info(self) -> dict[str, Any]:
        return self._info

    def predict(self, inputs: Any, params: dict[str, Any] | None = None) -> Outputs:
        rows = []
        for done in self._client.batch(Inputs.parse(inputs).rows):
            if isinstance(done, Exception):
                if (params or {}).get("strict"):
                    raise PredictionError(str(done)) from done
                meta = {"status": "error", "error": str(done), "error_type": type(done).__name__}
                rows.append(Result(prediction=None, metadata=meta))
            else:
                rows.append(
                    Result(prediction=done.text, metadata={"status": "ok", **done.metadata()})
                )
        return Outputs(rows=rows)


class SwitchLoader(Loader):
    """Loads whatever version :attr:`targets` points each URI at; tests move it.

    A URI mapped to ``None`` does not exist. :attr:`gate`, when set, blocks
    loads until it is released, so a test can see the app before it is ready.
    """

    KIND: Literal["SwitchLoader"] = "SwitchLoader"
    targets: ClassVar[dict[str, int | None]] = {}
    loads: ClassVar[list[str]] = []
    gate: ClassVar[threading.Event | None] = None

    def load(self, uri: str) -> EchoAdapter:
        if self.gate is not None:
            self.gate.wait(30)
        self.loads.append(uri)
        version = self.targets.get(uri)
        if version is None:
            raise ModelNotFoundError(f"no model at {uri}")
        definition = ModelDefinition(provider="echo", model=f"echo-v{version}")
        return EchoAdapter(definition, {"model_uri": uri, "version": str(version)})


class _SwitchPlugin:
    @hookimpl
    def llmreg_register_loaders(self, register: Callable[[type], None]) -> None:
        register(SwitchLoader)


@pytest.fixture
def switch() -> Iterator[type[SwitchLoader]]:
    """The SwitchLoader class, reset: ``models:/chat@champion`` at version 1."""
    SwitchLoader.targets = {URI: 1}
    SwitchLoader.loads = []
    SwitchLoader.gate = None
    yield SwitchLoader
    if SwitchLoader.gate is not None:
        SwitchLoader.gate.set()
    SwitchLoader.gate = None


@pytest.fixture
def manager(switch):
    """A plugin manager holding only the echo provider and the SwitchLoader."""
    return isolated_manager(echo_plugin, _SwitchPlugin())


class UvicornThread:
    """An ASGI app served by uvicorn on 127.0.0.1 from a background thread."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> UvicornThread:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], UvicornThread]]:
    """Start an app with uvicorn on a free loopback port; stopped after the test."""
    started: list[UvicornThread] = []

    def start(app: Any) -> UvicornThread:
        server = UvicornThread(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def served(serve, manager):
    """``models:/chat@champion`` served through the SwitchLoader (poll off)."""
    from llmreg_gateway import create_app

    app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0)
    server = serve(app)
    wait_ready(server.url)
    return server


def wait_ready(url: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll ``/ready`` until it answers 200; return its body."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"{url}/ready")
        if answer.status_code == 200:
            return dict(answer.json())
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready: {answer.status_code} {answer.text}")
        time.sleep(0.02)


@pytest.fixture
def ready() -> Callable[..., dict[str, Any]]:
    """The :func:`wait_ready` helper, as a fixture."""
    return wait_ready


# --- an ``openai``-provider model (llmreg-litellm) in front of the fake OpenAI server ---


@pytest.fixture(scope="module")
def upstream():
    """The fake OpenAI server (tests/support/openai_server.py), for the module."""
    from support.openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def app_url(serve, upstream, tmp_path, monkeypatch):
    """A folder model of the ``openai`` provider at ``upstream``, served; its base URL."""
    import json

    from llmreg_gateway import create_app

    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "sk-upstream-abc123")
    folder = tmp_path / "model"
    folder.mkdir()
    definition = {
        "provider": "openai",
        "model": "gpt-stream",
        "base_url": upstream.base_url,
        "api_key": "env:FAKE_UPSTREAM_KEY",
        "max_retries": 0,
    }
    (folder / "model_definition.json").write_text(json.dumps(definition))
    app = create_app(f"folder:{folder}", loader={"KIND": "FolderLoader"}, reload_interval=0)
    server = serve(app)
    wait_ready(server.url)
    return server.url


@pytest.fixture
def client(app_url):
    """The official ``openai`` client of ``app_url`` (no retries); ``served_model`` is the
    id its ``/v1/models`` lists. A test module may define its own ``client``."""
    import openai

    with openai.OpenAI(base_url=f"{app_url}/v1", api_key="unused", max_retries=0) as c:
        c.served_model = c.models.list().data[0].id  # type: ignore[attr-defined]
        yield c
