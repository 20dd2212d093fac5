"""A bound on what the gateway takes from an upstream answer: ``max_upstream_bytes``.

Streams are counted as they pass: once an answer's chunks add up to more than the
limit, the upstream stream is closed (nothing more is read) and the caller gets a
502 in OpenAI's error shape (an error event, once the stream has started). A whole
answer over the limit is refused the same way instead of being sent on. The bytes
counted are those of the answer's text (text chat) or of its chunks' JSON
(pass-through), which is what the client would receive.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from llmreg.client import StreamChunk
from llmreg.schemas import Outputs, Result
from llmreg_gateway.errors import ApiError

T = TypeVar("T")

#: The error type the 502 names (as a failed upstream call's does).
ERROR_TYPE = "ProviderResponseError"
#: The error code of an answer over the limit.
CODE = "upstream_too_large"


def too_large(limit: int) -> ApiError:
    """The 502 for an upstream answer larger than ``limit`` bytes."""
    return ApiError(
        502,
        f"the model's endpoint answered more than {limit} bytes, more than this server "
        f"reads (max_upstream_bytes {limit}); ask for a shorter answer (max_tokens)",
        type=ERROR_TYPE,
        code=CODE,
    )


def text_size(text: str | None) -> int:
    """The size of an answer's text in UTF-8 bytes."""
    return len(text.encode("utf-8")) if text else 0


def json_size(data: Any) -> int:
    """The size of a JSON answer (or chunk) as the client would receive it."""
    return len(json.dumps(data).encode("utf-8"))


def check_result(result: Result, limit: int) -> None:
    """Refuse a whole answer larger than ``limit`` bytes.

    Raises:
        ApiError: 502 ``upstream_too_large``.
    """
    if text_size(result.prediction) > limit:
        raise too_large(limit)


def cap_rows(outputs: Outputs, limit: int) -> Outputs:
    """``outputs`` with each row larger than ``limit`` bytes made an error row (the
    other rows keep their answers)."""
    if all(text_size(row.prediction) <= limit for row in outputs.rows):
        return outputs
    rows = []
    for row in outputs.rows:
        if text_size(row.prediction) > limit:
            err = too_large(limit)
            meta = {**row.metadata, "status": "error", "error": err.message,
                    "error_type": ERROR_TYPE, "error_code": CODE}  # fmt: skip
            row = Result(prediction=None, metadata=meta)
        rows.append(row)
    return Outputs(rows=rows)


def over_cap(row: Result) -> bool:
    """Whether :func:`cap_rows` made ``row`` an error row."""
    return row.metadata.get("error_code") == CODE


async def capped(
    stream: AsyncIterator[T], limit: int, size: Callable[[T], int]
) -> AsyncIterator[T]:
    """``stream``'s items as they come, until their sizes add up to more than ``limit``.

    Raises:
        ApiError: 502 ``upstream_too_large``, after closing ``stream``.
    """
    total = 0
    try:
        async for item in stream:
            total += size(item)
            if total > limit:
                raise too_large(limit)
            yield item
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]


def chunk_text_size(chunk: StreamChunk) -> int:
    """The new text a streamed chunk carries (the last one repeats the whole answer)."""
    return text_size(chunk.text)


__all__ = [
    "CODE",
    "ERROR_TYPE",
    "cap_rows",
    "capped",
    "check_result",
    "chunk_text_size",
    "json_size",
    "over_cap",
    "text_size",
    "too_large",
]
