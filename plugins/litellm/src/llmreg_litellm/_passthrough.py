"""A passed-through chat body (tools, response_format, logprobs, n) streamed from one endpoint.

:func:`stream_chat` sends the body as :meth:`Endpoint.chat <llmreg_litellm._endpoint.Endpoint.chat>`
does, with ``stream: true`` and ``stream_options.include_usage``, through the endpoint's
``AsyncOpenAI`` (its retries, timeouts and pool), and yields the endpoint's
``chat.completion.chunk`` JSON objects as they arrive: the SDK's parameter
transform and chunk models are skipped, as on the non-streamed path. This module
imports ``openai``; the client imports it on the first streamed call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

from llmreg.errors import ProviderError
from llmreg_litellm._endpoint import Attempts, Endpoint


def stream_body(endpoint: Endpoint, fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a streamed pass-through request to ``endpoint``.

    As for the non-streamed call: the definition's model, system prompt (first),
    defaults (temperature, max_tokens, stop, where ``fields`` sets none) and extra
    body; then ``stream: true`` and ``stream_options.include_usage``.
    """
    d = endpoint.definition
    head = [{"role": "system", "content": d.system_prompt}] if d.system_prompt else []
    defaults = {"temperature": d.temperature, "max_tokens": d.max_tokens, "stop": d.stop}
    body: dict[str, Any] = {k: v for k, v in defaults.items() if v is not None}
    body.update(fields)
    body["model"] = d.model
    body["messages"] = head + list(fields.get("messages") or [])
    body.update(endpoint._extra_body)  # the same package: the endpoint keeps it private
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    return body


async def stream_chat(
    endpoint: Endpoint, fields: dict[str, Any], attempts: Attempts
) -> AsyncIterator[dict[str, Any]]:
    """Yield the endpoint's chunks for a passed-through body, as they arrive.

    The request is sent at the first ``anext``. Every failure (the request, an
    error event in the stream, a broken connection, an event that is not a JSON
    object) raises a typed :class:`~llmreg.errors.ProviderError`, with the key
    scrubbed. The HTTP response is closed when the iteration ends or is closed.
    """
    try:
        stream = await endpoint.sdk().post(
            "/chat/completions",
            body=stream_body(endpoint, fields),
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )
    except Exception as exc:  # every failure becomes a typed, scrubbed error
        raise endpoint.error(exc, attempts.count) from None
    try:
        async for event in stream:
            if not isinstance(event, dict):
                raise ValueError(f"a stream event that is a JSON {type(event).__name__}")
            yield event
    except ProviderError:
        raise
    except Exception as exc:
        raise endpoint.error(exc, attempts.count) from None
    finally:
        await stream.close()


__all__ = ["stream_body", "stream_chat"]
