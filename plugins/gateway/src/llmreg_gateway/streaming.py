"""Real streaming of passed-through chat requests (tools, response_format, logprobs, n).

A streamed request using a pass-through field is sent on with
:meth:`Client.achat_stream <llmreg.client.Client.achat_stream>`; the endpoint's
``chat.completion.chunk`` objects go to the caller as they arrive (tool-call
fragments, logprobs, several choices), with ``model`` and ``system_fingerprint``
set by llmreg and one ``id`` for the whole stream, as for an answer that is not
streamed. The first chunk is awaited before the response starts, so a failure
before it (after every fallback) is an HTTP error; a failure after it ends the
stream with one ``data: {"error": ...}`` event and no ``[DONE]``. The access log
line and the metrics are written when the stream ends.

Imports fastapi (through starlette); :mod:`llmreg_gateway.app` imports this module.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from llmreg.errors import ProviderResponseError
from llmreg_gateway.errors import from_exception
from llmreg_gateway.openai_compat import ChatRequest, new_completion_id, passthrough_client

if TYPE_CHECKING:
    from llmreg_gateway.app import Routes
    from llmreg_gateway.auth import ApiKey
    from llmreg_gateway.model import ServedModel

logger = logging.getLogger(__name__)

#: The last event of a stream that ended well.
DONE = "data: [DONE]\n\n"

#: Called once when a stream ends: (HTTP status to log, error code or None, usage or None).
OnEnd = Callable[[int, str | None, dict[str, Any] | None], None]


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


async def chunk_events(
    stream: AsyncIterator[dict[str, Any]],
    first: dict[str, Any],
    *,
    model: str,
    system_fingerprint: str | None,
    include_usage: bool,
    mask: Callable[[str], str],
    on_end: OnEnd,
) -> AsyncIterator[str]:
    """The server-sent events of an endpoint's chunks: ``first``, then ``stream``'s.

    Each chunk is sent as it arrives, with ``model`` and ``system_fingerprint``
    replaced, ``object`` ``chat.completion.chunk`` and the first chunk's ``id``
    (a new one when it has none) on every chunk. ``usage`` is sent only when
    ``include_usage`` (a usage-only chunk is dropped otherwise; with it, a stream
    whose endpoint sent none ends with a zero usage chunk). Then ``[DONE]``. A
    failure ends the stream with one error event in OpenAI's shape (text masked
    with ``mask``). ``on_end`` is called once, at the end, however it ends; the
    stream is closed.
    """
    status, code, usage = 200, None, None
    cid = str(first.get("id") or new_completion_id())
    created = first.get("created") or int(time.time())
    sent_usage = False
    chunk: dict[str, Any] | None = first
    try:
        while chunk is not None:
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
            if out.get("choices") or "usage" in out:
                yield f"data: {json.dumps(out)}\n\n"
            chunk = await anext(stream, None)
        if include_usage and not sent_usage:
            tail: dict[str, Any] = {
                "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": system_fingerprint, "choices": [],
                "usage": usage or _zero_usage(),
            }  # fmt: skip
            yield f"data: {json.dumps(tail)}\n\n"
        yield DONE
    except Exception as exc:
        err = from_exception(exc)
        status, code = err.status, err.code
        err.message = mask(err.message)
        logger.warning("stream of %s broke: %s", model, err.message)
        yield f"data: {json.dumps(err.body())}\n\n"
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]
        on_end(status, code, usage)


async def forward_stream(
    routes: Routes,
    request: Request,
    started: float,
    served: ServedModel,
    key: ApiKey | None,
    chat: ChatRequest,
) -> Response:
    """Answer a streamed pass-through request with the endpoint's chunks as they arrive.

    Raises (before any byte is sent, for the caller's HTTP error):
        ApiError: 400 naming a field the model's provider does not pass through.
        ProviderError: every model of the chain failed before its first chunk.
    """
    from llmreg_gateway.app import fingerprint, masked

    client = passthrough_client(await routes.adapter(served), chat)
    assert chat.forward is not None
    stream = client.achat_stream(dict(chat.forward))
    try:
        first = await anext(stream, None)
        if first is None:
            raise ProviderResponseError("the endpoint's stream ended before its first chunk")
    except BaseException:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]
        raise

    def on_end(status: int, code: str | None, usage: dict[str, Any] | None) -> None:
        routes._record(request, "/v1/chat/completions", status, started, served, key, usage,
                       code=code, stream=True)  # fmt: skip

    events = chunk_events(
        stream,
        first,
        model=chat.model,
        system_fingerprint=fingerprint(served),
        include_usage=chat.include_usage,
        mask=lambda text: masked(served, text),
        on_end=on_end,
    )
    response = StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
    return routes._versioned(response, served)


__all__ = ["DONE", "OnEnd", "chunk_events", "forward_stream"]
