"""Limits the app keeps: rows per ``/predict`` request, and a body-timeout 408 that
closes its connection (on both of uvicorn's HTTP protocols)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from .conftest import URI, wait_ready


@pytest.fixture
def capped(serve, manager):
    """The app with at most 3 rows per /predict request."""
    from llmreg_gateway import create_app

    app = create_app(
        URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0, max_rows=3
    )
    server = serve(app)
    wait_ready(server.url)
    return server


def test_more_rows_than_the_cap_get_413_naming_the_limit(capped):
    answer = httpx.post(f"{capped.url}/predict", json=["a", "b", "c", "d"])
    assert answer.status_code == 413
    error = answer.json()["error"]
    assert error["code"] == "too_many_rows"
    assert "4 rows" in error["message"] and "at most 3" in error["message"]
    assert error["param"] == "inputs"


def test_rows_up_to_the_cap_are_answered(capped):
    answer = httpx.post(f"{capped.url}/predict", json=["a", "b", "c"])
    assert answer.status_code == 200
    assert [r["prediction"] for r in answer.json()["rows"]] == ["echo: a", "echo: b", "echo: c"]


def test_the_default_cap_is_256_rows(served):
    assert httpx.post(f"{served.url}/predict", json=["x"] * 257).status_code == 413
    assert httpx.post(f"{served.url}/predict", json=["x"] * 256).status_code == 200


class ProtocolServer:
    """The app under uvicorn with HTTP protocol ``http`` ("h11" or "httptools")."""

    def __init__(self, app: Any, http: str) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", http=http, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(params=["h11", "httptools"])
def slow_body_server(request, manager) -> Iterator[ProtocolServer]:
    """The app with a 0.3 s body timeout, on each protocol."""
    from llmreg_gateway import create_app

    app = create_app(
        URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0,
        body_timeout=0.3,
    )  # fmt: skip
    server = ProtocolServer(app, request.param)
    wait_ready(f"http://127.0.0.1:{server.port}")
    yield server
    server.stop()


def test_a_body_timeout_408_closes_the_connection(slow_body_server):
    with socket.create_connection(("127.0.0.1", slow_body_server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 100\r\n\r\n["a'
        )
        started = time.monotonic()
        received = b""
        while True:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                pytest.fail(f"the server kept the connection open after: {received!r}")
            if not data:  # the server closed it
                break
            received += data
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b"connection: close" in received.lower()
    assert b"body_timeout" in received
    assert time.monotonic() - started < 4
