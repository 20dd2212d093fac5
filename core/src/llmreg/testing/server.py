"""The contract kit's own HTTP endpoint: a local server that records what it is sent.

:class:`KitServer` binds 127.0.0.1 on a free port when a check starts (never at
import), speaks HTTP/1.1 with keep-alive, records every request body, counts the
connections open at any moment, and answers as its :class:`Endpoint` says: by
default OpenAI's chat-completions API (``echo: <last user message>``, SSE when
``"stream": true``). A provider for another API describes its own endpoint by
subclassing :class:`Endpoint` (see :class:`~llmreg.testing.provider.ProviderContract`).

Its ``mode`` makes every request fail one way: ``"401"``, ``"429"``, ``"500"``
answer that status with the endpoint's error body, ``"slow"`` answers after
``slow_seconds`` (for timeouts). A request whose user text is ``"!fail"`` gets a
400, so that one row of a batch can fail.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The user text that makes the kit's endpoint answer HTTP 400 for that request.
FAIL_ROW = "!fail"


def _user_text(content: Any) -> str:
    if isinstance(content, list):  # OpenAI's content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


class Endpoint:
    """What the kit's server answers: OpenAI's chat-completions API, unless overridden.

    Override all five methods for a provider whose API has another shape.
    """

    def settings(self, body: dict[str, Any]) -> dict[str, Any]:
        """What a request asked for: ``temperature``, ``max_tokens``, ``stop`` (a list or
        ``None``), ``system`` (the system prompt's text or ``None``) and ``user`` (the
        last user message's text)."""
        messages = body.get("messages") or []
        system = [_user_text(m.get("content")) for m in messages if m.get("role") == "system"]
        users = [_user_text(m.get("content")) for m in messages if m.get("role") == "user"]
        stop = body.get("stop")
        return {
            "temperature": body.get("temperature"),
            "max_tokens": body.get("max_tokens", body.get("max_completion_tokens")),
            "stop": [stop] if isinstance(stop, str) else stop,
            "system": "\n".join(system) or None,
            "user": users[-1] if users else "",
        }

    def answer(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        """The 200 body that answers ``text``, with word counts as token usage."""
        prompt = len(self.settings(body)["user"].split())
        words = len(text.split())
        return {
            "id": "chatcmpl-kit",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "kit"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": words,
                "total_tokens": prompt + words,
            },
        }

    def wants_stream(self, body: dict[str, Any]) -> bool:
        """Whether the request asks for a streamed answer."""
        return body.get("stream") is True

    def stream(self, body: dict[str, Any], text: str) -> Iterator[bytes]:
        """The streamed answer: OpenAI's server-sent events, one word a chunk."""
        base = {"id": "chatcmpl-kit", "object": "chat.completion.chunk", "created": 0}
        base["model"] = body.get("model", "kit")
        for i, word in enumerate(text.split(" ")):
            delta = {"content": word if i == 0 else " " + word}
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
        end = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        usage = {**base, "choices": [], "usage": self.answer(body, text)["usage"]}
        for data in (end, usage):
            yield b"data: " + json.dumps(data).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    def error(self, status: int, message: str) -> dict[str, Any]:
        """The error body sent with ``status``."""
        kinds = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
        return {"error": {"message": message, "type": kinds.get(status, "server_error")}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.kit._opened(+1)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.kit._opened(-1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the kit reports what matters in its failures."""

    def _send(self, status: int, data: dict[str, Any], headers: dict[str, str]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        kit = self.server.kit
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        kit.requests.append({"path": self.path, "body": body})
        endpoint, mode = kit.endpoint, kit.mode
        if mode == "slow":
            kit.stopping.wait(kit.slow_seconds)
        elif mode in ("401", "429", "500"):
            headers = {"Retry-After": "0"} if mode == "429" else {}
            self._send(int(mode), endpoint.error(int(mode), f"kit: HTTP {mode}"), headers)
            return
        user = endpoint.settings(body)["user"]
        if user == FAIL_ROW:
            self._send(400, endpoint.error(400, "kit: this row was asked to fail"), {})
            return
        text = f"echo: {user}"
        if endpoint.wants_stream(body):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for piece in endpoint.stream(body, text):
                self.wfile.write(piece)
                self.wfile.flush()
            return
        self._send(200, endpoint.answer(body, text), {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, kit: KitServer) -> None:
        self.kit = kit
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a timeout check) is expected: stay quiet."""


class KitServer:
    """A local endpoint for the contract kit; use it as a context manager.

    Attributes:
        requests: every request received, ``{"path", "body"}``, in order.
        mode: ``"ok"``, ``"401"``, ``"429"``, ``"500"`` or ``"slow"``.
        slow_seconds: how long ``"slow"`` waits before answering.
    """

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self.endpoint = endpoint or Endpoint()
        self.requests: list[dict[str, Any]] = []
        self.mode = "ok"
        self.slow_seconds = 5.0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._open = 0
        self.connections = 0
        self._server: _Server | None = None

    def _opened(self, delta: int) -> None:
        with self._lock:
            self._open += delta
            self.connections += max(delta, 0)

    @property
    def open_connections(self) -> int:
        """How many client connections are open now."""
        with self._lock:
            return self._open

    def wait_closed(self, timeout: float = 5.0) -> int:
        """Wait until no connection is open (at most ``timeout`` s); return how many are."""
        deadline = time.monotonic() + timeout
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.open_connections

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> KitServer:
        """Bind a free port on 127.0.0.1 and serve from a daemon thread."""
        self._server = _Server(self)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving; a ``"slow"`` answer still waiting ends now."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> KitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["FAIL_ROW", "Endpoint", "KitServer"]
