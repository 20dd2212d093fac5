"""A real HTTP server on 127.0.0.1 that answers what a test scripts, and records what it got.

For upstreams that misbehave in ways the fake OpenAI server does not: a redirect to
another origin, a JSON body or an HTML page answering a stream request, a body cut
short, a REST API answering garbage shapes::

    def answer(request: Seen) -> Reply:
        return Reply(302, {"Location": "http://elsewhere/"})

    with ScriptedServer(answer) as srv:
        ...  # srv.url, srv.seen (every request, with its headers)

``Reply.end`` says how the body ends: ``"length"`` (a ``Content-Length``, the
connection kept alive), ``"close"`` (no length: the end of the body is the close of
the connection, which is how an upstream cut mid-stream looks to a client) or
``"short"`` (a ``Content-Length`` larger than the body, then the connection closed:
a body cut before its announced end).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up on a body cut short is what the tests make: no traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@dataclass(frozen=True)
class Seen:
    """One request the server received: method, path (with its query), headers, body."""

    method: str
    path: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False, default=b"")

    def json(self) -> Any:
        """The body decoded as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """What the server answers: status, headers, body, and how the body ends."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    end: Literal["length", "close", "short"] = "length"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Reply:
        """A JSON answer."""
        return cls(status, {"Content-Type": "application/json"}, json.dumps(value).encode())


Script = Callable[[Seen], Reply]


class ScriptedServer:
    """Serve ``script``'s replies on 127.0.0.1 (a free port) from a background thread."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Nagle would stall every small answer about 40 ms (see FIELD-NOTES).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen = Seen(self.command, self.path, headers, body)
                with server._lock:
                    server.seen.append(seen)
                self._send(server.script(seen))

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.end == "length":
                    self.send_header("Content-Length", str(len(reply.body)))
                elif reply.end == "short":
                    self.send_header("Content-Length", str(len(reply.body) + 1000))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply.body)
                self.wfile.flush()
                if reply.end != "length":
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def requests(self) -> list[Seen]:
        """Every request received so far."""
        with self._lock:
            return list(self.seen)


__all__ = ["Reply", "Script", "ScriptedServer", "Seen"]
