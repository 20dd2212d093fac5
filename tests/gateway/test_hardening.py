"""The serving app under bad bodies, loose types, slow and vanishing clients.

Every case is answered with a 4xx in OpenAI's error shape (or a 503 for a store
that cannot be reached), never a 500 with a traceback in the log; a slow client
is timed out; a client that goes away while sending is logged at INFO.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from llmreg.errors import StoreUnavailableError
from llmreg_gateway.protocols import timed_h11_protocol

from .conftest import URI, SwitchLoader, wait_ready

CHAT = "/v1/chat/completions"
HELLO = [{"role": "user", "content": "hi"}]


def _post(url: str, path: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(
            f"{url}{path}", content=body, headers={"content-type": "application/json"}
        )
    return httpx.post(f"{url}{path}", json=body)


@pytest.mark.parametrize(
    "path, body, code, says",
    [
        ("/predict", b'{"rows": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "invalid_json", "deep"),
        (CHAT, b"[" * 5000, "invalid_json", "deep"),
        ("/predict", b'{"rows": [{"input": "a", "params": {"temperature": NaN}}]}', "invalid_json",
         "NaN is not JSON"),
        (CHAT, {"model": URI, "messages": HELLO, "n": True}, "invalid_request", "'n' must be 1"),
        (CHAT, {"model": URI, "messages": HELLO, "n": 2}, "invalid_request", "'n' must be 1"),
        (CHAT, {"model": URI, "messages": HELLO, "temperature": True}, "invalid_request",
         "temperature"),
        (CHAT, {"model": URI, "messages": HELLO, "max_tokens": True}, "invalid_request",
         "max_tokens"),
        (CHAT, {"model": URI, "messages": HELLO, "stream": "false"}, "invalid_request",
         "'stream' must be true or false"),
        (CHAT, {"model": URI, "messages": HELLO, "stream_options": "yes"}, "invalid_request",
         "stream_options"),
        (CHAT, {"model": URI, "messages": [{"role": "user", "content": "x" * 600_000}] * 2},
         "invalid_request", "1,200,000 characters"),
        ("/predict", {"rows": [{"input": "a", "params": {"temperature": True}}]}, "SchemaError",
         "temperature"),
    ],
)  # fmt: skip
def test_bad_bodies_and_loose_types_are_400(served, caplog, path, body, code, says):
    caplog.set_level(logging.INFO)
    answer = _post(served.url, path, body)
    assert answer.status_code == 400, answer.text[:300]
    error = answer.json()["error"]
    assert error["code"] == code and says in error["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_n_null_and_stream_false_are_fine(served):
    answer = _post(served.url, CHAT, {"model": URI, "messages": HELLO, "n": None, "stream": False})
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "echo: hi"


def test_a_huge_model_name_is_not_echoed_whole(served):
    answer = _post(served.url, CHAT, {"model": "m" * 1_000_000, "messages": HELLO})
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert len(message) < 500 and "1000000 characters" in message


@pytest.mark.parametrize("length", ["\u00b2", "\uff11", "-1", "abc"])
def test_a_strange_content_length_is_no_500(served, length):
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(
            f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        head = sock.recv(200)
    assert not head.startswith(b"HTTP/1.1 500"), head


def test_a_store_that_cannot_be_reached_is_503(serve, manager, switch, monkeypatch):
    from llmreg_gateway import create_app

    def unreachable(self, uri):
        raise StoreUnavailableError("the MLflow store cannot be reached")

    monkeypatch.setattr(SwitchLoader, "load", unreachable)
    app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0)
    server = serve(app)
    answer = _post(server.url, "/predict", ["hi"])
    assert answer.status_code == 503
    assert answer.json()["error"]["type"] == "StoreUnavailableError"


class TimedServer:
    """The app under uvicorn with a header-timeout protocol class ``http``, from a thread."""

    def __init__(self, app: Any, http: type[Any]) -> None:
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


def timed_server(manager: Any, http: type[Any]) -> Iterator[TimedServer]:
    """The app served on protocol ``http`` with a 0.5 s body timeout, ready; stopped after."""
    from llmreg_gateway import create_app

    app = create_app(
        URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0, body_timeout=0.5
    )
    server = TimedServer(app, http)
    wait_ready(f"http://127.0.0.1:{server.port}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def timed(manager) -> Iterator[TimedServer]:
    """The app on h11 with a 0.5 s header and body timeout."""
    yield from timed_server(manager, timed_h11_protocol(0.5))


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            data = sock.recv(4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_headers_sent_too_slowly_get_408_and_the_connection_closed(timed, caplog):
    caplog.set_level(logging.INFO, logger="llmreg_gateway.protocols")
    with socket.create_connection(("127.0.0.1", timed.port), timeout=10) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # never finished
        start = time.monotonic()
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - start < 5
    assert b"header_timeout" in answer
    assert any("no request headers within" in r.getMessage() for r in caplog.records)


def test_an_idle_connection_is_closed_too(timed):
    with socket.create_connection(("127.0.0.1", timed.port), timeout=10) as sock:
        assert _read_all(sock).startswith(b"HTTP/1.1 408")


def test_a_kept_alive_connection_is_timed_out_on_its_next_request(timed):
    with httpx.Client(base_url=f"http://127.0.0.1:{timed.port}") as client:
        assert client.get("/health").status_code == 200
    with socket.create_connection(("127.0.0.1", timed.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /health HTTP/1.1\r\n")  # the next request, never finished
        assert b"408" in _read_all(sock)


def test_a_body_sent_too_slowly_gets_408(timed):
    with socket.create_connection(("127.0.0.1", timed.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 100\r\n\r\n["a'
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"body_timeout" in answer


def test_normal_requests_are_not_slowed(timed):
    with httpx.Client(base_url=f"http://127.0.0.1:{timed.port}") as client:
        for _ in range(5):
            answer = client.post("/predict", json=["hi"])
            assert answer.json()["rows"][0]["prediction"] == "echo: hi"
            time.sleep(0.2)


def test_a_client_that_disconnects_while_sending_is_logged_at_info(served, caplog):
    caplog.set_level(logging.INFO)
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 100000\r\n\r\n" + b" " * 1000
        )
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any("disconnected while sending" in r.getMessage() for r in caplog.records):
            break
        time.sleep(0.05)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert any(level == logging.INFO and "disconnected" in m for level, m in messages), messages
    assert not [m for level, m in messages if level >= logging.ERROR]
    assert json.loads(httpx.get(f"{served.url}/health").text)["status"] == "ok"
