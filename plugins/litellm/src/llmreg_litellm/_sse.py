"""What an endpoint answered to a stream request, read as chat-completion chunks, or refused.

Many OpenAI-compatible servers ignore ``"stream": true`` and answer one JSON body;
others answer an HTML page with status 200, or close the connection mid-body. None of
these may become an empty answer that ends well. :func:`stream_of` reads the answer by
its content type, once its status is known to be 2xx:

- ``text/event-stream`` (or no content type): its server-sent events, up to ``[DONE]``;
- a JSON type: one chat completion, turned into the chunks a stream of it would have
  sent (its text, tool calls, finish reasons, usage); any other JSON is an error;
- any other type (an HTML page...): an error, naming the type.

Then :func:`checked` holds what it yields to one rule: a stream that ends with no
choice in it, or that ends (before ``[DONE]``) with no ``finish_reason`` and no
``[DONE]`` (the connection was cut mid-answer), is an error, never an answer.
Chunks without a choice (a usage chunk) are held back until a choice arrives, so
that a stream with no choice fails before its first chunk: while a fallback can
still be tried.

Errors are the SDK's exceptions or ``ValueError``, for the caller to type
(:func:`llmreg_litellm._errors.provider_error`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import openai

#: What :func:`stream_of` yields when the stream said it was complete (``[DONE]``, or the
#: end of a JSON answer); :func:`checked` never passes it on.
DONE: dict[str, Any] = {"[DONE]": True}
#: Fields of a chat completion a converted chunk keeps.
_HEAD_FIELDS = ("id", "created", "model", "system_fingerprint", "service_tier")


class NotAStreamError(ValueError):
    """The endpoint answered a stream request with something that is not a stream of
    chat-completion chunks (an HTML page, JSON that is no chat completion...)."""


def stream_of(
    content_type: str, chunks: AsyncIterator[bytes], request: Any
) -> AsyncGenerator[dict[str, Any], None]:
    """The chunks of a 2xx answer to a stream request, read by its ``content_type``.

    ``chunks`` are the body's bytes as they arrive; ``request`` is the SDK's request
    object (for its errors). Yields :data:`DONE` when the answer said it was complete.

    Raises:
        NotAStreamError: the content type is neither a stream nor JSON.
    """
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("", "text/event-stream"):
        return _sse(chunks, request)
    if kind == "application/json" or kind.endswith("+json"):
        return _json_answer(chunks, request)
    raise NotAStreamError(f"a {kind} body, not text/event-stream, answering a stream request")


async def checked(
    events: AsyncIterator[dict[str, Any]], request: Any
) -> AsyncGenerator[dict[str, Any], None]:
    """Pass on ``events`` (from :func:`stream_of`) while they make a whole answer.

    Raises:
        NotAStreamError: the stream ended with no choice in it.
        openai.APIConnectionError: the stream ended before ``[DONE]`` with no
            ``finish_reason`` sent: the answer was cut short.
    """
    held: list[dict[str, Any]] = []
    chose = finished = done = False
    async for event in events:
        if event is DONE:
            done = True
            break
        choices = event.get("choices")
        if isinstance(choices, list) and choices:
            chose = True
            finished = finished or any(
                isinstance(c, dict) and c.get("finish_reason") for c in choices
            )
        if not chose:
            held.append(event)  # until a choice comes: an answer without one is an error
            continue
        for early in held:
            yield early
        held.clear()
        yield event
    if not chose:
        raise NotAStreamError("a stream that ended with no choice in it")
    if not done and not finished:
        raise openai.APIConnectionError(request=request) from ValueError(
            "the stream ended before [DONE] and before any finish_reason: it was cut short"
        )


async def _json_answer(
    chunks: AsyncIterator[bytes], request: Any
) -> AsyncGenerator[dict[str, Any], None]:
    """The chunks a stream of the one JSON chat completion in the body would have sent."""
    raw = b"".join([piece async for piece in chunks])
    try:
        data = json.loads(raw)
    except ValueError:
        raise NotAStreamError("a JSON body answering a stream request, cut or malformed") from None
    _raise_error(data, request)
    for chunk in as_chunks(data):
        yield chunk
    yield DONE


def as_chunks(data: Any) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects that say what the chat completion ``data`` says:
    one per choice (its whole message as the delta, its finish reason, its logprobs), then
    one with the usage, if any.

    Raises:
        NotAStreamError: ``data`` is not a chat completion.
    """
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not all(
        isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices
    ):
        raise NotAStreamError(
            "a JSON body answering a stream request that is not a chat completion"
        )
    assert isinstance(data, dict)
    head = {k: data[k] for k in _HEAD_FIELDS if k in data}
    head["object"] = "chat.completion.chunk"
    out = []
    for position, choice in enumerate(choices):
        delta = {k: v for k, v in choice["message"].items() if v is not None}
        calls = delta.get("tool_calls")
        if isinstance(calls, list):  # a chunk's tool call names its index
            delta["tool_calls"] = [
                {"index": i, **c} if isinstance(c, dict) else c for i, c in enumerate(calls)
            ]
        part = {"index": choice.get("index", position), "delta": delta,
                "finish_reason": choice.get("finish_reason")}  # fmt: skip
        if choice.get("logprobs") is not None:
            part["logprobs"] = choice["logprobs"]
        out.append({**head, "choices": [part]})
    if isinstance(data.get("usage"), dict):
        out.append({**head, "choices": [], "usage": data["usage"]})
    return out


def _raise_error(data: Any, request: Any) -> None:
    """Raise ``openai.APIError`` for an ``error`` in ``data`` (as the SDK's stream does)."""
    if not isinstance(data, dict) or not data.get("error"):
        return
    error = data["error"]
    message = error.get("message") if isinstance(error, dict) else None
    raise openai.APIError(str(message or error), request=request, body=error)


async def _sse(chunks: AsyncIterator[bytes], request: Any) -> AsyncGenerator[dict[str, Any], None]:
    """The JSON ``data`` of each server-sent event, then :data:`DONE` at ``[DONE]``.

    An event's ``data`` lines are joined with newlines; comments and other fields are
    skipped. An ``error`` event, or data holding an ``error``, raises ``openai.APIError``;
    data that is not a JSON object raises :class:`NotAStreamError`.
    """
    buffer = b""
    lines: list[bytes] = []
    name = b""
    async for piece in chunks:
        buffer += piece
        while (end := buffer.find(b"\n")) >= 0:
            line, buffer = buffer[:end].rstrip(b"\r"), buffer[end + 1 :]
            if line:
                field, _, value = line.partition(b":")
                value = value[1:] if value.startswith(b" ") else value
                if field == b"data":
                    lines.append(value)
                elif field == b"event":
                    name = value
                continue
            if not lines:  # a blank line ending no data: a comment or a keep-alive
                name = b""
                continue
            text, lines = b"\n".join(lines), []
            if text.startswith(b"[DONE]"):
                yield DONE
                return
            yield _event(text, name, request)
            name = b""


def _event(text: bytes, name: bytes, request: Any) -> dict[str, Any]:
    """One event's data, decoded; an error event raises ``openai.APIError``."""
    try:
        event = json.loads(text)
    except ValueError:
        raise NotAStreamError("a stream event whose data is not JSON") from None
    if name == b"error" and not (isinstance(event, dict) and event.get("error")):
        event = {"error": event}
    _raise_error(event, request)
    if not isinstance(event, dict):
        raise NotAStreamError(f"a stream event that is a JSON {type(event).__name__}")
    return event


__all__ = ["DONE", "NotAStreamError", "as_chunks", "checked", "stream_of"]
