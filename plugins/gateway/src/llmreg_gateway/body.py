"""Reading a request body: at most so many bytes, within so many seconds, strict JSON.

Imports starlette (through fastapi's dependency).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import ClientDisconnect, Request

from llmreg.definition import MAX_JSON_DEPTH, json_depth
from llmreg_gateway.errors import ApiError, bad_request
from llmreg_gateway.settings import BODY_TIMEOUT_S

logger = logging.getLogger(__name__)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit} bytes", code="too_large")


async def read_body(request: Request, limit: int, timeout: float = BODY_TIMEOUT_S) -> bytes:
    """The request body's bytes, at most ``limit`` of them, within ``timeout`` seconds.

    Raises:
        ApiError: 413 for an oversized body; 408 for a body that does not arrive in
            time (its answer closes the connection); 400 ``client_disconnected`` when
            the client went away while sending (logged at INFO: nobody reads the answer).
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {timeout:g} s ({size} bytes came)",
            code="body_timeout",
        ) from None
    except ClientDisconnect:
        logger.info(
            "%s %s: the client disconnected while sending the body",
            request.method,
            request.url.path,
        )
        raise ApiError(400, "the client disconnected", code="client_disconnected") from None
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """``raw`` as strict UTF-8 JSON (no ``NaN`` or ``Infinity``, bounded nesting).

    Raises:
        ApiError: 400 for an empty, non-UTF-8, non-JSON or too deeply nested body.
    """
    if not raw.strip():
        raise bad_request("the request body is empty: send a JSON object", code="empty_body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(
            f"the request body is not UTF-8 (byte {exc.start}): send UTF-8 JSON",
            code="invalid_encoding",
        ) from None
    # json_depth walks the text in Python; fewer brackets than the limit cannot nest deeper
    opened = text.count("[") + text.count("{")
    depth = json_depth(text) if opened > MAX_JSON_DEPTH else 0
    if depth > MAX_JSON_DEPTH:
        raise bad_request(
            f"the request body is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed",
            code="invalid_json",
        )
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise bad_request(
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})",
            code="invalid_json",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise bad_request(
            f"the request body is not valid JSON ({exc})", code="invalid_json"
        ) from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: Request, limit: int, timeout: float = BODY_TIMEOUT_S) -> Any:
    """The request body (:func:`read_body`) parsed as strict JSON (:func:`parse_json`)."""
    return parse_json(await read_body(request, limit, timeout))


__all__ = ["parse_json", "read_body", "read_json"]
