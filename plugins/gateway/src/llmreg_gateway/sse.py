"""The one server-sent-events writer: every ``data: ...`` event the gateway sends.

Streamed answers (text streamed by an adapter, a whole answer sent as events, an
endpoint's chunks passed through) and the error event that ends a broken stream
are all written here, so their framing (``data: JSON\\n\\n``, the ``[DONE]`` end)
and headers are the same everywhere. The response helper imports starlette on call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.responses import StreamingResponse

    from llmreg_gateway.errors import ApiError

#: The last event of a stream that ended well.
DONE = "data: [DONE]\n\n"
#: The media type of an event stream.
MEDIA_TYPE = "text/event-stream"


def event(data: Any) -> str:
    """One event carrying ``data`` as JSON: ``data: {...}`` and a blank line."""
    return f"data: {json.dumps(data)}\n\n"


def data_of(event: str) -> Any:
    """The JSON an event written by :func:`event` carries (``None`` for ``[DONE]`` or
    another line)."""
    if not event.startswith("data: ") or event == DONE:
        return None
    try:
        return json.loads(event[6:])
    except ValueError:
        return None


def error_event(err: ApiError) -> str:
    """The event that ends a broken stream: the error in OpenAI's shape (its SDK raises it).

    The caller masks ``err.message`` first.
    """
    return event(err.body())


def response(events: AsyncIterator[str] | Iterator[str]) -> StreamingResponse:
    """The HTTP response that sends ``events`` as they come, uncached."""
    from starlette.responses import StreamingResponse

    return StreamingResponse(events, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-cache"})


__all__ = ["DONE", "MEDIA_TYPE", "data_of", "error_event", "event", "response"]
