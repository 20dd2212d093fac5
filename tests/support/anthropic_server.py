"""A real HTTP server speaking the Anthropic Messages API, for tests; standard library only.

``FakeAnthropicServer`` binds 127.0.0.1 on a free port and serves from a
background thread (HTTP/1.1 keep-alive, Nagle disabled, daemon threads). Point
LiteLLM's ``anthropic/`` route at it with ``api_base=srv.url``::

    with FakeAnthropicServer() as srv:
        litellm.completion(model="anthropic/m", api_base=srv.url, api_key="k", messages=...)
        assert srv.count(model="m") == 1

Route: ``POST /v1/messages``. The answer's text is
``"echo: " + <the last user message's text>``; ``usage`` counts words
(``input_tokens``: the system prompt and every message; ``output_tokens``: the
text); ``stop_reason`` is ``end_turn``, or ``max_tokens`` when ``max_tokens``
cut the text to that many words. With ``"stream": true`` the same answer comes as
Anthropic's server-sent events (``message_start``, ``content_block_start``, one
``content_block_delta`` per word, ``content_block_stop``, ``message_delta`` with the
stop reason and usage, ``message_stop``), in HTTP chunks.

Behaviour is chosen by the *model name* (the part after ``anthropic/``):
``slow-<ms>-<rest>`` waits ``<ms>`` milliseconds more; ``fault-<status>``
answers that HTTP status with Anthropic's error body (400, 401, 403, 404, 429,
500, 529); ``fault-malformed`` answers 200 with a body that is not JSON;
``fault-hang`` does not answer for 30 s (or until the server stops).
``cut-<N>-<rest>`` (streams only) drops the connection after ``<N>`` words, in the
middle of the body. ``flaky-<N>-<status>-<rest>`` answers ``<status>`` to the
first ``N`` requests of that exact model name, then goes on with ``<rest>``. A
``fault-401`` answer quotes the key it was sent, so tests can check that clients
scrub it. Every request is recorded with its headers (left out of the repr).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class RecordedMessage:
    """One request the server received: its model, body and headers."""

    model: str
    body: dict[str, Any]
    headers: dict[str, str] = field(repr=False)


def _text(content: Any) -> str:
    """The text of a message's content (a string or a list of text blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if status in (429, 500, 529):
            self.send_header("retry-after", "0")
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str) -> None:
        body = {
            "type": "error",
            "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
        }
        self._send(status, json.dumps(body).encode())

    def do_POST(self) -> None:
        """Answer ``POST /v1/messages``."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/messages":
            self._error(404, f"no route {self.path}")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "the body is not JSON")
            return
        model = str(body.get("model", ""))
        seen = self.server.record(RecordedMessage(model, body, dict(self.headers.items())))
        self._answer(model, model, body, seen)

    def _answer(self, full: str, model: str, body: dict[str, Any], seen: int) -> None:
        if model.startswith("slow-"):
            _, ms, rest = model.split("-", 2)
            time.sleep(int(ms) / 1000)
            self._answer(full, rest, body, seen)
            return
        cut: int | None = None
        if model.startswith("cut-"):
            _, count, model = model.split("-", 2)
            cut = int(count)
        if model.startswith("flaky-"):
            _, count, status, *rest = model.split("-", 3)
            if seen <= int(count):
                self._error(int(status), f"flaky failure {seen}")
                return
            self._answer(full, rest[0] if rest else "ok", body, seen)
            return
        if model.startswith("fault-"):
            kind = model.split("-")[1]
            if kind == "malformed":
                self._send(200, b"{not json", "application/json")
            elif kind == "hang":
                self.server.stopping.wait(30)
                with contextlib.suppress(OSError):  # the client gave up long ago
                    self._error(500, "hung")
            elif kind == "401":
                key = self.headers.get("x-api-key", "")
                self._error(401, f"invalid x-api-key: {key}")
            else:
                self._error(int(kind), f"fault {kind}")
            return
        messages = body.get("messages") or []
        last = next(
            (_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        words = ("echo: " + last).split()
        stop = "end_turn"
        limit = body.get("max_tokens")
        if isinstance(limit, int) and len(words) > limit:
            words, stop = words[:limit], "max_tokens"
        system = body.get("system")
        system_text = _text(system) if system else ""
        prompt = len(system_text.split()) + sum(
            len(_text(m.get("content")).split()) for m in messages
        )
        if body.get("stream"):
            self._stream(full, words, stop, prompt, seen, cut)
            return
        answer = {
            "id": f"msg_{seen}",
            "type": "message",
            "role": "assistant",
            "model": full,
            "content": [{"type": "text", "text": " ".join(words)}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": len(words)},
        }
        self._send(200, json.dumps(answer).encode())

    def _stream(
        self, model: str, words: list[str], stop: str, prompt: int, seen: int, cut: int | None
    ) -> None:
        """Answer as Anthropic's event stream, one word a delta; ``cut``: drop the
        connection after that many words."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(kind: str, data: dict[str, Any]) -> None:
            payload = f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()

        message = {
            "id": f"msg_{seen}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": 1},
        }
        event("message_start", {"message": message})
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        for number, word in enumerate(words):
            if cut is not None and number == cut:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            text = word if number == 0 else f" {word}"
            delta = {"type": "text_delta", "text": text}
            event("content_block_delta", {"index": 0, "delta": delta})
        event("content_block_stop", {"index": 0})
        event(
            "message_delta",
            {
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": len(words)},
            },
        )
        event("message_stop", {})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.recorded: list[RecordedMessage] = []
        self.seen: Counter[str] = Counter()
        self.stopping = threading.Event()

    def record(self, message: RecordedMessage) -> int:
        with self.lock:
            self.recorded.append(message)
            self.seen[message.model] += 1
            return self.seen[message.model]


class FakeAnthropicServer:
    """The fake Messages API server; a context manager that starts and stops it."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAnthropicServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.stopping.set()
        with contextlib.suppress(Exception):
            self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        """The server's root URL (``http://127.0.0.1:PORT``), for ``api_base``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RecordedMessage]:
        """Every request received so far."""
        with self._server.lock:
            return list(self._server.recorded)

    def count(self, model: str | None = None) -> int:
        """How many requests came for ``model`` (every model when ``None``)."""
        return sum(1 for r in self.requests if model is None or r.model == model)
