"""A passed-through chat body (tools, response_format, logprobs, n) streamed from one endpoint.

:func:`stream_chat` sends the body as :meth:`Endpoint.chat <llmreg_litellm._endpoint.Endpoint.chat>`
does, with ``stream: true`` and ``stream_options.include_usage``, through the endpoint's
``AsyncOpenAI`` (its retries, timeouts and pool), and yields the endpoint's
``chat.completion.chunk`` JSON objects as they arrive: the SDK's parameter
transform and chunk models are skipped, as on the non-streamed path. Where the
endpoint has the lean path (:meth:`Endpoint.poster
<llmreg_litellm._endpoint.Endpoint.poster>`: aiohttp, the SDK's headers, timeouts,
retries and exceptions), the stream is read through it and its server-sent events are
split here: aiohttp's C parser costs a fraction of the SDK's httpx stack per chunk and
per request. Elsewhere (proxies from the environment...) the SDK sends it and its
body is split the same way. Either way the answer's status and content type are
checked before a stream is promised, and what it holds must be a whole answer
(:mod:`llmreg_litellm._sse`). This module imports ``openai`` and ``aiohttp``; the
client imports it on the first streamed call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import openai

from llmreg.errors import ProviderError
from llmreg_litellm._endpoint import Attempts, Endpoint
from llmreg_litellm._http import LeanPoster, _sdk_http
from llmreg_litellm._sse import checked, stream_of

#: Seconds to wait, after ``[DONE]``, for the rest of the body (the end of the chunked
#: encoding) so that the connection goes back to the pool.
DRAIN_S = 1.0


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
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield the endpoint's chunks for a passed-through body, as they arrive.

    The request is sent at the first ``anext``. Every failure (the request, an
    error event in the stream, a broken connection, an event that is not a JSON
    object) raises a typed :class:`~llmreg.errors.ProviderError`, with the key
    scrubbed. The HTTP response is closed when the iteration ends or is closed.
    """
    events = stream_events(endpoint, stream_body(endpoint, fields), attempts)
    try:
        async for event in events:
            yield event
    except ProviderError:
        raise
    except Exception as exc:  # every failure becomes a typed, scrubbed error
        raise endpoint.error(exc, attempts.count) from None
    finally:
        await events.aclose()


def stream_events(
    endpoint: Endpoint, body: dict[str, Any], attempts: Attempts
) -> AsyncGenerator[dict[str, Any], None]:
    """The JSON events of ``POST /chat/completions`` with ``body`` (which asks to stream).

    Through the endpoint's lean path where it has one, else the SDK's. The request is
    sent at the first ``anext``. The answer's status and content type are checked before
    any event is yielded, and the events must make a whole answer
    (:mod:`llmreg_litellm._sse`): a JSON chat completion answering the stream request
    comes as the chunks of its stream; an HTML page, other JSON, a stream with no choice
    or one cut short raise. Failures raise the SDK's exceptions or ``ValueError``, for
    the caller to type.
    """
    poster = endpoint.poster()
    if poster is None:
        return _sdk_events(endpoint, body)
    return _lean_events(poster, body, attempts)


async def _sdk_events(
    endpoint: Endpoint, body: dict[str, Any]
) -> AsyncGenerator[dict[str, Any], None]:
    """The stream's JSON events through the SDK's ``post`` (its retries and status errors),
    its body read by :func:`llmreg_litellm._sse.stream_of`."""
    http = _sdk_http()
    stream = await endpoint.sdk().post(
        "/chat/completions",
        body=body,
        cast_to=object,
        stream=True,
        stream_cls=openai.AsyncStream[object],
    )
    response = stream.response
    try:
        kind = response.headers.get("content-type", "")
        events = stream_of(kind, response.aiter_bytes(), response.request)
        async for event in checked(events, response.request):
            yield event
    except http.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except http.TransportError as exc:  # a connection dropped or a body cut mid-way
        raise openai.APIConnectionError(request=response.request) from exc
    finally:
        await stream.close()


async def _lean_events(
    poster: LeanPoster, body: dict[str, Any], attempts: Attempts
) -> AsyncGenerator[dict[str, Any], None]:
    """The stream's JSON events through the lean path: aiohttp, split here.

    Before the answer's headers, :meth:`LeanPoster.send` retries as the SDK does
    (``max_retries``; timeouts, dropped connections, 408/409/429/5xx with their
    Retry-After) and raises the SDK's exceptions; any other status that is not 2xx
    raises the SDK's status error. After them, an ``error`` event raises
    ``openai.APIError`` as the SDK's stream does, a broken connection
    ``APIConnectionError``, a read timeout ``APITimeoutError``.
    """
    answer = await poster.send(body, attempts)
    finished = False
    try:
        if not 200 <= answer.status < 300:  # a 3xx that is no redirect, say
            raise poster._status_error(answer.status, answer.headers, await answer.read())
        kind = answer.headers.get("content-type", "")
        request = poster._request()
        events = stream_of(kind, answer.content.iter_any(), request)
        async for event in checked(events, request):
            yield event
        finished = True
    except TimeoutError as exc:
        raise openai.APITimeoutError(request=poster._request()) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise openai.APIConnectionError(request=poster._request()) from exc
    finally:
        if finished:  # the answer was whole: read the body's end, so the connection is reused
            with contextlib.suppress(Exception):
                async with asyncio.timeout(DRAIN_S):
                    while await answer.content.readany():
                        pass
            answer.release()  # back to the pool when the body was read to its end
        else:
            answer.close()


__all__ = ["DRAIN_S", "stream_body", "stream_chat", "stream_events"]
