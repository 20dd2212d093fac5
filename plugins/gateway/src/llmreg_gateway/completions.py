"""The OpenAI chat-completions answer shapes: a result to a completion, or to events.

Pure functions over dicts, no web framework; every event goes through
:mod:`llmreg_gateway.sse`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from llmreg.schemas import Result
from llmreg_gateway import sse


def _usage(metadata: dict[str, Any]) -> dict[str, int]:
    usage = metadata.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    total = int(usage.get("total_tokens") or prompt + completion)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def new_completion_id() -> str:
    """Return a fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(result: Result, model: str, system_fingerprint: str | None = None) -> dict[str, Any]:
    """Return the ``chat.completion`` object for an answered row.

    ``system_fingerprint`` names the registered version that answered.
    """
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.prediction or ""},
                "finish_reason": result.metadata.get("finish_reason") or "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(result.metadata),
        "system_fingerprint": system_fingerprint,
    }


def _chunk(
    cid: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None,
    system_fingerprint: str | None = None,
) -> str:
    data = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": system_fingerprint,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    return sse.event(data)


def chunk_event(
    cid: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    system_fingerprint: str | None = None,
) -> str:
    """Return one ``chat.completion.chunk`` server-sent event (``data: {...}``)."""
    return _chunk(cid, created, model, delta, finish, system_fingerprint)


def usage_event(
    cid: str, created: int, model: str, metadata: dict[str, Any], system_fingerprint: str | None
) -> str:
    """Return the final usage event of a stream (``choices: []``), for ``include_usage``."""
    data = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": system_fingerprint,
        "choices": [],
        "usage": _usage(metadata),
    }
    return sse.event(data)


def stream_chunks(
    result: Result, model: str, include_usage: bool, system_fingerprint: str | None = None
) -> Iterator[str]:
    """Yield the server-sent events of an answered row, ending with ``data: [DONE]``.

    The row is answered in full before the first event: the role, the text,
    the finish reason, the usage (when asked for), then ``[DONE]``.
    """
    cid = new_completion_id()
    created = int(time.time())
    fp = system_fingerprint
    yield _chunk(cid, created, model, {"role": "assistant", "content": ""}, None, fp)
    if result.prediction:
        yield _chunk(cid, created, model, {"content": result.prediction}, None, fp)
    yield _chunk(cid, created, model, {}, result.metadata.get("finish_reason") or "stop", fp)
    if include_usage:
        yield usage_event(cid, created, model, result.metadata, fp)
    yield sse.DONE


def model_entry(model_uri: str, created: int) -> dict[str, Any]:
    """Return one ``model`` object of ``/v1/models``: its id is the served URI."""
    return {"id": model_uri, "object": "model", "created": created, "owned_by": "llmreg"}


def models_list(model_uri: str, created: int) -> dict[str, Any]:
    """Return the ``/v1/models`` list holding one served model."""
    return {"object": "list", "data": [model_entry(model_uri, created)]}


__all__ = [
    "chunk_event",
    "completion",
    "model_entry",
    "models_list",
    "new_completion_id",
    "stream_chunks",
    "usage_event",
]
