"""Streams, checked before they are promised: text streams and passed-through chunks.

Nothing is sent (no ``200``, no ``text/event-stream`` header) until the model's first
real chunk is in hand: a stream that fails before it, ends before it, or whose first
chunk is hollow (no text, no choice, no finish reason: an HTML page, a JSON body or
``{"choices": []}`` read as a stream) is an HTTP error (502), after every fallback the
client tried. Once started, a stream ends well only when the model said it finished
(a finish reason); a failure, or an end without one (the connection was cut), ends it
with one ``data: {"error": ...}`` event in OpenAI's shape and no ``[DONE]``, never a
made-up ``finish_reason: "stop"``. A stream still running when the shutdown grace
runs out (:mod:`llmreg_gateway.drain`) ends the same way.

A streamed request using a pass-through field is sent on with
:meth:`Client.achat_stream <llmreg.client.Client.achat_stream>`; the endpoint's
``chat.completion.chunk`` objects go to the caller as they arrive (tool-call
fragments, logprobs, several choices), with ``model`` and ``system_fingerprint``
set by llmreg and one ``id`` for the whole stream, as for an answer that is not
streamed. A text request goes through :meth:`ClientAdapter.astream
<llmreg.adapter.ClientAdapter.astream>` (:func:`first_text`, :func:`text_events`).
The access log line and the metrics are written when the stream ends.

Imports fastapi (through starlette); :mod:`llmreg_gateway.chat` imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from llmreg.client import StreamChunk
from llmreg.errors import ProviderResponseError
from llmreg_gateway import sse
from llmreg_gateway.completions import chunk_event, new_completion_id, usage_event
from llmreg_gateway.drain import STREAMS, shutting_down
from llmreg_gateway.errors import ApiError, from_exception
from llmreg_gateway.openai_compat import ChatRequest, passthrough_client
from llmreg_gateway.responses import fingerprint, masked, versioned
from llmreg_gateway.upstream import capped, json_size

if TYPE_CHECKING:
    from llmreg_gateway.auth import ApiKey
    from llmreg_gateway.context import GatewayContext
    from llmreg_gateway.model import ServedModel

logger = logging.getLogger(__name__)

#: The last event of a stream that ended well.
DONE = sse.DONE

#: Called once when a stream ends: (HTTP status to log, error code or None, usage or None).
OnEnd = Callable[[int, str | None, dict[str, Any] | None], None]


def never_arrived(what: str) -> ProviderResponseError:
    """The error of a stream that ended before its first real chunk (``what`` it did)."""
    return ProviderResponseError(
        f"the model's stream {what}: no answer arrived; check that the endpoint streams "
        "chat completions (base_url, model) or add a fallback model"
    )


def cut_short() -> ProviderResponseError:
    """The error of a started stream that ended without the model saying it finished."""
    return ProviderResponseError(
        "the model's stream ended before its end (no finish reason): the connection was cut"
    )


def _failed(exc: BaseException, mask: Callable[[str], str], model: str) -> ApiError:
    """The error event's :class:`ApiError` for a stream that broke with ``exc``, logged."""
    err = from_exception(exc)
    err.message = mask(err.message)
    logger.warning("stream of %s broke: %s", model, err.message)
    return err


def _event(err: ApiError) -> str:
    return sse.error_event(err)


async def _close(stream: AsyncIterator[Any]) -> None:
    with contextlib.suppress(Exception):
        await stream.aclose()  # type: ignore[attr-defined]


async def first_text(stream: AsyncIterator[StreamChunk]) -> StreamChunk:
    """Await a text stream's first chunk, refusing one that never arrived.

    Raises (the stream closed, before any byte is sent):
        ProviderResponseError: the stream ended with no chunk, or its first chunk is
            the end of an answer with no text and no finish reason.
        ProviderError: the endpoint (and every fallback) failed.
    """
    try:
        chunk = await anext(stream, None)
        if chunk is None:
            raise never_arrived("ended before its first chunk")
        done = chunk.done
        if done is not None and not (chunk.text or done.text) and done.finish_reason is None:
            raise never_arrived("ended with no text and no finish reason")
    except BaseException:
        await _close(stream)
        raise
    return chunk


async def text_events(
    ctx: GatewayContext,
    request: Request,
    served: ServedModel,
    key: ApiKey | None,
    chat: ChatRequest,
    stream: AsyncIterator[StreamChunk],
    chunk: StreamChunk,
    started: float,
) -> AsyncIterator[str]:
    """The server-sent events of a streamed text answer, sent as the upstream's text arrives.

    Role, text deltas, the finish reason, the usage (``include_usage``), ``[DONE]``.
    ``chunk`` is the first (from :func:`first_text`). A failure mid-stream, a stream
    that ends without its last chunk or (after text came) without a finish reason, or
    the end of the shutdown grace sends one ``data: {"error": ...}`` event (OpenAI's
    SDK raises it) instead of ``[DONE]``; the access log line is written at the end.
    """
    cid, created, fp = new_completion_id(), int(time.time()), fingerprint(served)
    model = chat.model
    status, code, usage = 200, None, None
    first = True
    yield chunk_event(cid, created, model, {"role": "assistant", "content": ""}, None, fp)
    try:
        with STREAMS.running():
            while True:
                if chunk.text:
                    yield chunk_event(cid, created, model, {"content": chunk.text}, None, fp)
                if chunk.done is not None:
                    done = chunk.done
                    if done.finish_reason is None and not first:
                        raise cut_short()  # a one-chunk answer may lack one; a stream may not
                    usage = done.metadata().get("usage")
                    yield chunk_event(cid, created, model, {}, done.finish_reason or "stop", fp)
                    if chat.include_usage:
                        yield usage_event(cid, created, model, done.metadata(), fp)
                    break
                chunk = await anext(stream, None)  # type: ignore[arg-type]
                if chunk is None:
                    raise cut_short()
                first = False
        yield DONE
    except (Exception, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError) and not STREAMS.ended_by_shutdown():
            raise  # the client went away: nobody reads an event
        err = _failed(exc if isinstance(exc, Exception) else shutting_down(),
                      lambda text: masked(served, text), served.model_uri)  # fmt: skip
        status, code = err.status, err.code
        yield _event(err)
    finally:
        await _close(stream)
        ctx.record(request, "/v1/chat/completions", status, started, served, key,
                   usage, code=code, stream=True)  # fmt: skip


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


async def first_chunks(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Await a passed-through stream's chunks up to its first with a choice (a usage-only
    chunk before it is kept); refuse a stream that has none.

    Raises (the stream closed, before any byte is sent):
        ProviderResponseError: the stream ended before a chunk with a choice.
        ProviderError: the endpoint (and every fallback) failed.
    """
    head: list[dict[str, Any]] = []
    try:
        while not (head and head[-1].get("choices")):
            chunk = await anext(stream, None)
            if chunk is None:
                raise never_arrived("ended before a chunk with a choice")
            head.append(chunk)
    except BaseException:
        await _close(stream)
        raise
    return head


async def chunk_events(
    stream: AsyncIterator[dict[str, Any]],
    head: list[dict[str, Any]],
    *,
    model: str,
    system_fingerprint: str | None,
    include_usage: bool,
    mask: Callable[[str], str],
    on_end: OnEnd,
) -> AsyncIterator[str]:
    """The server-sent events of an endpoint's chunks: ``head``'s, then ``stream``'s.

    Each chunk is sent as it arrives, with ``model`` and ``system_fingerprint``
    replaced, ``object`` ``chat.completion.chunk`` and the first chunk's ``id``
    (a new one when it has none) on every chunk. ``usage`` is sent only when
    ``include_usage`` (a usage-only chunk is dropped otherwise; with it, a stream
    whose endpoint sent none ends with a zero usage chunk). Then ``[DONE]``, once a
    choice had a finish reason. A failure, a stream that ends with no finish reason
    (cut), or the end of the shutdown grace ends it with one error event in OpenAI's
    shape (text masked with ``mask``). ``on_end`` is called once, at the end, however
    it ends; the stream is closed.
    """
    status, code, usage = 200, None, None
    first = head[0]
    cid = str(first.get("id") or new_completion_id())
    created = first.get("created") or int(time.time())
    sent_usage = finished = False
    pending = list(head)
    try:
        with STREAMS.running():
            while True:
                chunk = pending.pop(0) if pending else await anext(stream, None)
                if chunk is None:
                    break
                found = chunk.get("usage")
                if isinstance(found, dict):
                    usage = found
                out = {**chunk, "id": cid, "object": "chat.completion.chunk",
                       "created": chunk.get("created") or created, "model": model,
                       "system_fingerprint": system_fingerprint}  # fmt: skip
                out.pop("fallback_index", None)
                if not include_usage:
                    out.pop("usage", None)
                elif isinstance(found, dict):
                    sent_usage = True
                choices = out.get("choices") or []
                finished = finished or any(
                    isinstance(c, dict) and c.get("finish_reason") for c in choices
                )
                if choices or "usage" in out:
                    yield sse.event(out)
        if not finished:
            raise cut_short()
        if include_usage and not sent_usage:
            tail: dict[str, Any] = {
                "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": system_fingerprint, "choices": [],
                "usage": usage or _zero_usage(),
            }  # fmt: skip
            yield sse.event(tail)
        yield DONE
    except (Exception, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError) and not STREAMS.ended_by_shutdown():
            raise  # the client went away: nobody reads an event
        err = _failed(exc if isinstance(exc, Exception) else shutting_down(), mask, model)
        status, code = err.status, err.code
        yield _event(err)
    finally:
        await _close(stream)
        on_end(status, code, usage)


async def forward_stream(
    ctx: GatewayContext,
    request: Request,
    started: float,
    served: ServedModel,
    key: ApiKey | None,
    chat: ChatRequest,
) -> Response:
    """Answer a streamed pass-through request with the endpoint's chunks as they arrive.

    Raises (before any byte is sent, for the caller's HTTP error):
        ApiError: 400 naming a field the model's provider does not pass through.
        ProviderError: every model of the chain failed before its first chunk, or the
            stream ended before a chunk with a choice (:func:`first_chunks`).
    """
    client = passthrough_client(await ctx.adapter(served), chat)
    assert chat.forward is not None
    limit = ctx.settings.max_upstream_bytes
    stream = capped(client.achat_stream(dict(chat.forward)), limit, json_size)
    head = await first_chunks(stream)

    def on_end(status: int, code: str | None, usage: dict[str, Any] | None) -> None:
        ctx.record(request, "/v1/chat/completions", status, started, served, key, usage,
                   code=code, stream=True)  # fmt: skip

    events = chunk_events(
        stream,
        head,
        model=chat.model,
        system_fingerprint=fingerprint(served),
        include_usage=chat.include_usage,
        mask=lambda text: masked(served, text),
        on_end=on_end,
    )
    return versioned(sse.response(events), served)


__all__ = [
    "DONE",
    "OnEnd",
    "chunk_events",
    "cut_short",
    "first_chunks",
    "first_text",
    "forward_stream",
    "never_arrived",
    "text_events",
]
