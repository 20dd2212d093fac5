"""A real OpenAI-compatible HTTP server for tests, on the standard library only.

``FakeOpenAIServer`` binds 127.0.0.1 on a free port and serves from a background
thread (HTTP/1.1 keep-alive, Nagle disabled, daemon threads)::

    with FakeOpenAIServer(latency=0.0) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="k")
        ...
        assert srv.count(model="m") == 1

Routes:
    ``POST /v1/chat/completions``  non-streaming, or ``"stream": true`` as SSE
        chunks ending with ``data: [DONE]``;
    ``GET /v1/models``  the models asked for so far, plus ``fake-model``;
    ``GET /health``  ``{"status": "ok"}``.

Answers are derived from the input, so a test can match each answer to its row:
    content = ``"echo: " + <content of the last user message>``;
    ``model`` echoes the requested model; ``finish_reason`` is ``"stop"``;
    tokens are counted by whitespace split (prompt: every message; completion:
    the content). ``max_tokens`` cuts the content to that many words
    (``finish_reason`` ``"length"``); a ``stop`` string cuts it before the stop.

Behaviour is chosen per request by the *model name*, so that concurrent tests
with different models never interfere. A name is read as a chain of prefixes:

    ``slow-<ms>-<rest>``    wait ``<ms>`` milliseconds more, then read ``<rest>``;
    ``flaky-<N>-<code>-<rest>`` (or ``flaky-<N>-<code>``)  the first ``N``
        requests for this exact model name answer HTTP ``<code>``, the later ones
        go on with ``<rest>`` (counted per full model name: make it unique);
    ``fault-500`` (or 502, 503)  an HTTP 5xx error body;
    ``fault-429``   HTTP 429 with ``Retry-After``;
    ``fault-400``, ``fault-401``, ``fault-403``, ``fault-404``, ``fault-422``;
    ``fault-errortext``  HTTP 400 whose body's ``error`` is a string, not an object;
    ``fault-errornested`` HTTP 400 whose ``error`` object holds an ``error`` string
        and no ``message`` (the SDK hands the client that inner object);
    ``fault-malformed``  HTTP 200 with a body that is not JSON;
    ``fault-empty``      HTTP 200 with an empty ``choices`` list;
    ``fault-shape``      HTTP 200 with JSON that is not a chat completion;
    ``fault-html``       HTTP 200 with an HTML page (a base_url that is no API);
    ``fault-drop``       the socket is closed without an answer;
    ``fault-sseempty``   HTTP 200 ``text/event-stream`` whose one event has ``choices: []``;
    ``fault-ssegarbage`` HTTP 200 ``text/event-stream`` whose event is not JSON;
    ``fault-nostream``   a whole JSON chat completion, even when asked to stream;
    ``fault-hang``       no answer for ``hang_seconds`` (30 s), or until stop.

Anything after a fault (``fault-500-my-test``) is ignored, so tests can make
names unique. Every other name answers normally.

A row can also choose for itself, by how its last user message starts:
``[slow <ms>]`` waits ``<ms>`` milliseconds more (to make rows finish out of
order), and ``[fault <kind>]`` answers as ``fault-<kind>`` would (to fail one
row of a batch). For ``"stream": true`` only: ``[gap <ms>]`` waits ``<ms>``
milliseconds before each content chunk (to see chunks arrive one by one), and
``[cut <n>]`` closes the connection after ``<n>`` content chunks, with no
``[DONE]`` (an upstream failing mid-stream); ``[error event <n>]`` sends, after
``<n>`` content chunks, a ``data: {"error": {...}}`` event and ends the body (as
OpenAI's API reports a failure once a stream has begun); ``[end <n>]`` ends the
body cleanly after ``<n>`` content chunks, with no finish reason and no ``[DONE]``
(a proxy that cut the stream and closed the chunked body).

A request with ``tools``, ``response_format``, ``n`` or ``logprobs`` is answered in
OpenAI's shape for them (see ``_choices``); streamed, as OpenAI streams them (see
``passthrough_stream``): tool calls as a head chunk (index, id, name) and argument
fragments, the content word by word with its logprobs, the choices interleaved.

A ``fault-401`` answer quotes the key it was sent, as OpenAI's own
"Incorrect API key provided" message does, so tests can check that clients
scrub it from their errors.

Retryable errors (429 and 5xx) carry ``Retry-After: 0`` and ``retry-after-ms``
(``retry_after_ms``, 10 by default, as OpenAI itself sends), so that clients
retrying by the header wait 10 ms and tests stay fast.

``latency`` (seconds, per request) is set at construction and can be changed
(``srv.latency = 0.05``); ``slow-`` adds to it for one model.

Every request is recorded (:class:`RecordedRequest`), including the
``Authorization`` header it carried, so tests can assert the key was sent;
that field is left out of the record's repr so a failing assert never prints it.
``srv.max_in_flight(model)`` is the most chat requests that were being handled
at once (all models, or one).

Standalone, for suites that run it in another process::

    python -m support.openai_server --port 0 --latency 0.05

prints ``listening on http://127.0.0.1:PORT/v1`` (flushed) and serves until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The longest a ``fault-hang`` request waits, unless the server stops first.
HANG_SECONDS = 30.0

_SLOW = re.compile(r"^slow-(\d+)-(.*)$")
_FLAKY = re.compile(r"^flaky-(\d+)-(\d{3})(?:-(.*))?$")
_FAULT = re.compile(r"^fault-([a-z0-9]+)")
_ROW_SLOW = re.compile(r"^\[slow (\d+)\]")
_ROW_FAULT = re.compile(r"^\[fault ([a-z0-9]+)\]")
_ROW_GAP = re.compile(r"^\[gap (\d+)\]")
_ROW_CUT = re.compile(r"^\[cut (\d+)\]")
_ROW_ERROR_EVENT = re.compile(r"^\[error event (\d+)\]")
_ROW_END = re.compile(r"^\[end (\d+)\]")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    model: str | None
    body: dict[str, Any] | None
    authorization: str | None = field(repr=False)
    headers: dict[str, str] = field(repr=False, default_factory=dict)
    received_at: float = field(default_factory=time.monotonic)


class _State:
    """What the handlers share: records, counters and settings, behind one lock."""

    def __init__(self, latency: float, retry_after_ms: int, hang_seconds: float) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.latency = latency
        self.retry_after_ms = retry_after_ms
        self.hang_seconds = hang_seconds
        self.requests: list[RecordedRequest] = []
        self.per_model: Counter[str] = Counter()
        self.in_flight: Counter[str | None] = Counter()
        self.max_in_flight: Counter[str | None] = Counter()
        self.connections: set[socket.socket] = set()

    def record(self, request: RecordedRequest) -> int:
        """Record a request; return how many chat requests this model has had, this one included."""
        with self.lock:
            self.requests.append(request)
            if request.model is None:
                return 0
            self.per_model[request.model] += 1
            return self.per_model[request.model]

    def enter(self, model: str) -> None:
        """Count a chat request as being handled."""
        with self.lock:
            for key in (None, model):
                self.in_flight[key] += 1
                self.max_in_flight[key] = max(self.max_in_flight[key], self.in_flight[key])

    def leave(self, model: str) -> None:
        """Count a chat request as done."""
        with self.lock:
            for key in (None, model):
                self.in_flight[key] -= 1

    def reset(self) -> None:
        """Forget every record and counter."""
        with self.lock:
            self.requests.clear()
            self.per_model.clear()
            self.in_flight = Counter({k: v for k, v in self.in_flight.items() if v})
            self.max_in_flight.clear()


def _words(text: str) -> int:
    return len(text.split())


def _content_text(content: Any) -> str:
    """Return the text of a message's content (a string, or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _last_user_text(body: dict[str, Any]) -> str:
    """The content of the last user message of a chat request ("" when there is none)."""
    messages = body.get("messages") or []
    last_user = next(
        (m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), {}
    )
    return _content_text(last_user.get("content", ""))


def answer_for(body: dict[str, Any]) -> tuple[str, str, dict[str, int]]:
    """Return the (content, finish_reason, usage) the server answers ``body`` with."""
    messages = body.get("messages") or []
    content = "echo: " + _last_user_text(body)
    finish = "stop"
    stop = body.get("stop")
    for marker in [stop] if isinstance(stop, str) else (stop or []):
        if marker and marker in content:
            content = content[: content.index(marker)]
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(max_tokens, int) and _words(content) > max_tokens:
        content = " ".join(content.split()[:max_tokens])
        finish = "length"
    texts = [_content_text(m.get("content", "")) for m in messages if isinstance(m, dict)]
    prompt = sum(_words(t) for t in texts)
    completion = _words(content)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return content, finish, usage


def _choices(body: dict[str, Any], content: str, finish: str) -> list[dict[str, Any]]:
    """The choices of a chat answer; the fields beyond text chat shape them:

    ``tools`` (unless ``tool_choice`` is ``"none"``): the first tool (or the one
    ``tool_choice`` names) is called with ``{"text": <last user text>}``, content
    ``null``, finish reason ``tool_calls`` (two calls when the last user text starts
    with ``[two calls]`` and ``parallel_tool_calls`` is not false); a last message
    with role ``tool`` is answered ``"tool said: <its content>"``;
    ``response_format`` ``json_object``/``json_schema``: content is
    ``{"echo": <last user text>}``; ``n``: that many identical choices;
    ``logprobs``: one entry per word, logprob 0.0 (``top_logprobs`` alternatives).
    A model named ``judge-<verdict>`` (``judge-yes``, ``judge-no``) answers as an
    MLflow judge does: ``{"result": "<verdict>", "rationale": ...}``.
    """
    text = _last_user_text(body)
    judged = re.match(r"^judge-([a-z0-9.]+)", str(body.get("model") or ""))
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    message: dict[str, Any] = {"role": "assistant", "content": content}
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if judged:
        verdict = judged.group(1)
        message["content"] = json.dumps({"result": verdict, "rationale": f"judged {verdict}"})
    elif last.get("role") == "tool":
        message["content"] = "tool said: " + _content_text(last.get("content", ""))
    elif tools and choice != "none":
        name = tools[0].get("function", {}).get("name", "tool")
        if isinstance(choice, dict):
            name = choice.get("function", {}).get("name", name)
        count = (
            2
            if text.startswith("[two calls]") and body.get("parallel_tool_calls") is not False
            else 1
        )
        message["content"] = None
        message["tool_calls"] = [
            {"id": f"call_{uuid.uuid4().hex[:8]}", "type": "function",
             "function": {"name": name, "arguments": json.dumps({"text": text})}}
            for _ in range(count)
        ]  # fmt: skip
        finish = "tool_calls"
    elif (body.get("response_format") or {}).get("type") in {"json_object", "json_schema"}:
        message["content"] = json.dumps({"echo": text})
    logprobs = None
    if body.get("logprobs"):
        top = int(body.get("top_logprobs") or 0)
        logprobs = {"content": [
            {"token": w, "logprob": 0.0, "bytes": list(w.encode()),
             "top_logprobs": [{"token": w, "logprob": 0.0, "bytes": list(w.encode())}] * top}
            for w in str(message["content"] or "").split()
        ]}  # fmt: skip
    n = body.get("n") if isinstance(body.get("n"), int) else 1
    return [
        {"index": i, "message": dict(message), "finish_reason": finish, "logprobs": logprobs}
        for i in range(max(1, n))
    ]


def _passes_through(body: dict[str, Any]) -> bool:
    """Whether a request uses the fields beyond text chat that shape :func:`_choices`."""
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    fmt = body.get("response_format")
    return bool(
        (body.get("tools") and body.get("tool_choice") != "none")
        or (isinstance(fmt, dict) and fmt.get("type") in {"json_object", "json_schema"})
        or (isinstance(body.get("n"), int) and body["n"] > 1)
        or body.get("logprobs")
        or last.get("role") == "tool"
    )


def _pieces(text: str, parts: int = 3) -> list[str]:
    """``text`` cut into at most ``parts`` non-empty pieces, in order."""
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _choice_deltas(choice: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    """One choice of :func:`_choices` as stream deltas ``(delta, logprobs)``, as OpenAI sends:

    the role; the content word by word (each word with its logprobs entry); each tool
    call as a head (``index``, ``id``, ``type``, ``function.name``, empty arguments)
    and its arguments in three fragments.
    """
    message = choice["message"]
    content = message.get("content")
    deltas: list[tuple[dict[str, Any], Any]] = [
        ({"role": "assistant", "content": "" if content is not None else None}, None)
    ]
    if content:
        words = content.split(" ")
        entries = (choice.get("logprobs") or {}).get("content") or []
        for i, word in enumerate(words):
            lp = {"content": entries[i : i + 1]} if choice.get("logprobs") else None
            deltas.append(({"content": word if i == 0 else " " + word}, lp))
    for index, call in enumerate(message.get("tool_calls") or ()):
        head = {"index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}  # fmt: skip
        deltas.append(({"tool_calls": [head]}, None))
        for piece in _pieces(call["function"]["arguments"]):
            fragment = {"index": index, "function": {"arguments": piece}}
            deltas.append(({"tool_calls": [fragment]}, None))
    return deltas


def passthrough_stream(
    body: dict[str, Any], base: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    """The stream chunks of a request using tools, JSON mode, ``n`` or ``logprobs``.

    The choices of :func:`_choices`, each as :func:`_choice_deltas`, interleaved
    (choice 0's first delta, choice 1's first delta...); then each choice's finish
    reason; then the usage when ``stream_options.include_usage``. Returns the chunks
    and how many of them are deltas.
    """
    content, finish, usage = answer_for(body)
    choices = _choices(body, content, finish)
    per_choice = [_choice_deltas(c) for c in choices]
    chunks = []
    for step in range(max(len(d) for d in per_choice)):
        for choice, deltas in zip(choices, per_choice, strict=True):
            if step < len(deltas):
                delta, logprobs = deltas[step]
                entry = {"index": choice["index"], "delta": delta, "finish_reason": None,
                         "logprobs": logprobs}  # fmt: skip
                chunks.append({**base, "choices": [entry]})
    count = len(chunks)
    for choice in choices:
        entry = {"index": choice["index"], "delta": {}, "finish_reason": choice["finish_reason"],
                 "logprobs": None}  # fmt: skip
        chunks.append({**base, "choices": [entry]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks, count


class _Handler(BaseHTTPRequestHandler):
    """Serves the OpenAI routes; the behaviour comes from the requested model name."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket
    server: _Server

    def setup(self) -> None:
        """Track the connection, so that stopping the server closes it too."""
        super().setup()
        with self.state.lock:
            self.state.connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        with self.state.lock:
            self.state.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read records, not logs."""

    # --- plumbing ----------------------------------------------------------

    @property
    def state(self) -> _State:
        return self.server.state

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self, body: dict[str, Any] | None) -> int:
        model = body.get("model") if isinstance(body, dict) else None
        return self.state.record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                model=model if isinstance(model, str) else None,
                body=body,
                authorization=self.headers.get("Authorization"),
                headers={k.lower(): v for k, v in self.headers.items()},
            )
        )

    def _send(
        self, status: int, payload: bytes, *, ctype: str = "application/json", headers: Any = ()
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, status: int, data: Any, headers: Any = ()) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _send_error(self, status: int, message: str) -> None:
        error = {"message": message, "type": _ERROR_TYPES.get(status, "server_error"), "code": None}
        headers: list[tuple[str, str]] = []
        if status == 429 or status >= 500:
            headers = [("Retry-After", "0"), ("retry-after-ms", str(self.state.retry_after_ms))]
        self._send_json(status, {"error": error}, headers)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.state.stopping.wait(seconds)

    # --- routes ------------------------------------------------------------

    def do_GET(self) -> None:
        """``/health`` and ``/v1/models``."""
        self._record(None)
        if self.path == "/health":
            self._send_json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            with self.state.lock:
                names = sorted({"fake-model", *self.state.per_model})
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        """``/v1/chat/completions``."""
        raw = self._read_body()
        if self.path != "/v1/chat/completions":
            self._record(None)
            self._send_error(404, f"no route POST {self.path}")
            return
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            self._record(None)
            self._send_error(400, "the body must be a JSON object with a 'model' string")
            return
        seen = self._record(body)
        self._body = body
        model = body["model"]
        self.state.enter(model)
        try:
            self._chat(body, model, seen)
        finally:
            self.state.leave(model)

    def _chat(self, body: dict[str, Any], model: str, seen: int) -> None:
        delay = self.state.latency
        rest = model
        while match := _SLOW.match(rest):
            delay += int(match.group(1)) / 1000
            rest = match.group(2)
        row_slow = _ROW_SLOW.match(_last_user_text(body))
        if row_slow:
            delay += int(row_slow.group(1)) / 1000
        flaky = _FLAKY.match(rest)
        if flaky:
            if seen <= int(flaky.group(1)):
                self._wait(delay)
                self._fault(flaky.group(2))
                return
            rest = flaky.group(3) or ""
        self._wait(delay)
        fault = _FAULT.match(rest) or _ROW_FAULT.match(_last_user_text(body))
        if fault:
            self._fault(fault.group(1))
        elif body.get("stream"):
            self._stream(body)
        else:
            self._complete(body)

    def _fault(self, kind: str) -> None:
        if kind == "401":
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            self._send_error(401, f"fault injected: Incorrect API key provided: {key}")
        elif kind.isdigit():
            self._send_error(int(kind), f"fault injected: HTTP {kind}")
        elif kind == "errortext":
            self._send_json(400, {"error": "fault injected: error as text"})
        elif kind == "errornested":
            self._send_json(400, {"error": {"error": "fault injected: nested error text"}})
        elif kind == "malformed":
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [')
        elif kind == "shape":
            self._send_json(200, {"object": "list", "data": []})
        elif kind == "html":
            self._send(200, b"<html><body>Welcome</body></html>", ctype="text/html")
        elif kind == "empty":
            self._send_json(200, self._completion_body({"model": "fault-empty"}, choices=[]))
        elif kind == "drop":
            self._drop()
        elif kind in ("sseempty", "ssegarbage"):
            event = b'{"id": "chatcmpl-x", "choices": []}' if kind == "sseempty" else b"<h1>oops"
            self._send(200, b"data: " + event + b"\n\ndata: [DONE]\n\n",
                       ctype="text/event-stream")  # fmt: skip
        elif kind == "nostream":
            self._send_json(200, self._completion_body(self._body))
        elif kind == "hang":
            self._wait(self.state.hang_seconds)
            self._drop()
        else:
            self._send_error(400, f"unknown fault {kind!r}")

    def _completion_body(
        self, body: dict[str, Any], choices: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        content, finish, usage = answer_for(body)
        if choices is None:
            choices = _choices(body, content, finish)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": choices,
            "usage": usage,
        }

    def _complete(self, body: dict[str, Any]) -> None:
        self._send_json(200, self._completion_body(body))

    def _stream(self, body: dict[str, Any]) -> None:
        content, finish, usage = answer_for(body)
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }
        if _passes_through(body):
            chunks, count = passthrough_stream(body, base)
        else:
            words = content.split(" ")
            deltas = [{"role": "assistant", "content": ""}] + [
                {"content": w if i == 0 else " " + w} for i, w in enumerate(words)
            ]
            chunks = [
                {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
                for d in deltas
            ]
            count = len(deltas)
            chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                chunks.append({**base, "choices": [], "usage": usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        text = _last_user_text(body)
        gap = _ROW_GAP.match(text)
        cut = _ROW_CUT.match(text)
        error_event = _ROW_ERROR_EVENT.match(text)
        end = _ROW_END.match(text)
        for index, chunk in enumerate(chunks):
            if end and index > int(end.group(1)):
                self.wfile.write(b"0\r\n\r\n")
                return
            if error_event and index > int(error_event.group(1)):
                error = {"message": "fault injected: error event", "type": "server_error"}
                self._write_chunk(f"data: {json.dumps({'error': error})}\n\n".encode())
                self.wfile.write(b"0\r\n\r\n")
                return
            if cut and index > int(cut.group(1)):
                self.wfile.flush()
                self._drop()
                return
            if gap and 0 < index < count:
                self.wfile.flush()
                self._wait(int(gap.group(1)) / 1000)
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 drops bursts of new connections for ~1 s
    state: _State


class FakeOpenAIServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1, run in a background thread.

    Args:
        latency: seconds each chat request waits before answering.
        port: the port to bind; 0 picks a free one.
        retry_after_ms: the ``retry-after-ms`` sent with 429 and 5xx answers.
        hang_seconds: how long ``fault-hang`` requests wait (bounded; stop ends it early).
    """

    def __init__(
        self,
        latency: float = 0.0,
        *,
        port: int = 0,
        retry_after_ms: int = 10,
        hang_seconds: float = HANG_SECONDS,
    ) -> None:
        self._state = _State(latency, retry_after_ms, hang_seconds)
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Bind and start serving in a daemon thread.

        After :meth:`stop`, it binds the same port again (an endpoint coming back).
        """
        if self._httpd is not None:
            return self
        self._state.stopping.clear()
        httpd = _Server(("127.0.0.1", self._port), _Handler)
        httpd.state = self._state
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"fake-openai-{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end hanging requests, close every connection. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._port = int(httpd.server_address[1])
        self._state.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._state.lock:  # kept-alive connections end too, as with a real server
            open_connections = list(self._state.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("the server is not running: call start() or use 'with'")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what an OpenAI client takes as ``base_url``."""
        return f"{self.url}/v1"

    # --- settings and records ------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds each chat request waits; settable."""
        return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.latency = seconds

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in arrival order."""
        with self._state.lock:
            return list(self._state.requests)

    def chat_requests(self, model: str | None = None) -> list[RecordedRequest]:
        """The ``/v1/chat/completions`` requests received (for ``model`` when given)."""
        return [r for r in self.requests if r.model is not None and model in (None, r.model)]

    def count(self, model: str | None = None) -> int:
        """How many chat-completion requests were received (for ``model`` when given)."""
        return len(self.chat_requests(model))

    def max_in_flight(self, model: str | None = None) -> int:
        """The most chat requests handled at once since the last reset (all, or ``model``)."""
        with self._state.lock:
            return self._state.max_in_flight[model]

    def reset(self) -> None:
        """Forget the records, the per-model counts (``flaky-``) and the in-flight maxima."""
        self._state.reset()


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat request")
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with FakeOpenAIServer(latency=args.latency, port=args.port) as srv:
        print(f"listening on {srv.base_url}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
