"""The chat and predict request paths when the controls apply (:mod:`.controls`).

A request goes through here when a key limit, key budget, prices file or the
cache is configured, or when its key is a managed key; otherwise the routes never
import or await anything of the controls. Here: admit before the upstream is
called, look the cache up (keyed by the resolved version ``models:/NAME/V``, never
the alias), settle the usage and cost in a ``finally``, and put the
``x-ratelimit-*`` headers on every answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any, Protocol

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from llmreg_gateway import sse
from llmreg_gateway.auth import ApiKey
from llmreg_gateway.context import GatewayContext
from llmreg_gateway.controls import Admission, Controls
from llmreg_gateway.controls.cache import CACHE_HEADER, Assembler, replay_events
from llmreg_gateway.controls.cost import cost
from llmreg_gateway.errors import from_exception
from llmreg_gateway.model import ServedModel
from llmreg_gateway.openai_compat import ChatRequest
from llmreg_gateway.responses import json_response, versioned

ROUTE = "/v1/chat/completions"


class ChatSteps(Protocol):
    """What the chat route offers the controlled path (``ChatRoute``)."""

    ctx: GatewayContext

    async def stream(
        self,
        request: Request,
        started: float,
        served: ServedModel,
        key: ApiKey | None,
        chat: ChatRequest,
    ) -> Response:
        """The streamed answer."""

    async def complete(self, chat: ChatRequest, served: ServedModel) -> dict[str, Any]:
        """The whole ``chat.completion``."""


def resolved_version(served: ServedModel) -> str:
    """``models:/NAME/V`` of the version answering now (the served URI when unknown)."""
    return served.resolved_uri


def with_cost(usage: Any, usd: float | None) -> Any:
    """``usage`` with the extension field ``cost_usd`` (when the cost is known)."""
    if isinstance(usage, dict) and usd is not None:
        usage["cost_usd"] = usd
    return usage


async def admit(
    controls: Controls, key: ApiKey | None, served: ServedModel, body: Any
) -> Admission:
    """Admit a request to ``served`` (may raise the 429/503 refusals)."""
    model = served.name or served.model_uri
    data = body if isinstance(body, Mapping) else {}
    return await controls.admit(key, model, resolved_version(served), data)


async def settle_shielded(
    controls: Controls | None, admission: Admission, usage: Any
) -> float | None:
    """Settle even while the request is being cancelled (a client went away)."""
    if controls is None:
        return None
    given = usage if isinstance(usage, Mapping) else None
    with anyio.CancelScope(shield=True):
        usd = await controls.settle(admission, given)
    return usd


def headed(response: Response, admission: Admission | None) -> Response:
    """``response`` with the admission's ``x-ratelimit-*`` headers (when admitted)."""
    if admission is not None:
        for name, value in admission.headers():
            response.headers[name] = value
    return response


async def controlled_chat(
    route: ChatSteps,
    request: Request,
    started: float,
    served: ServedModel,
    key: ApiKey | None,
    chat: ChatRequest,
    body: Any,
) -> Response:
    """Answer a chat request under the controls (see the module doc)."""
    ctx = route.ctx
    controls = ctx.controls
    assert controls is not None
    admission: Admission | None = None
    handed_off = False
    try:
        admission = await admit(controls, key, served, body)
        hit = await controls.cached(admission, body, request.headers.get("cache-control"))
        if hit is not None:
            usd = await controls.settle(admission, hit.get("usage"), cached=True)
            response = _hit(hit, chat, usd)
            ctx.record(request, ROUTE, 200, started, served, key, hit.get("usage"),
                       stream=chat.stream)  # fmt: skip
        elif chat.stream:
            wanted = chat.include_usage
            inner = await route.stream(request, started, served, key, _with_usage(chat))
            assert isinstance(inner, StreamingResponse)
            inner.body_iterator = settled_events(inner.body_iterator, controls, admission, wanted)
            handed_off = True
            response = inner
        else:
            data = await route.complete(chat, served)
            usage = data.get("usage")
            with_cost(usage, await controls.settle(admission, usage))
            await controls.store(admission, data)
            ctx.record(request, ROUTE, 200, started, served, key,
                       usage if isinstance(usage, dict) else None)  # fmt: skip
            response = json_response(data)
    except Exception as exc:
        response = ctx.failure("POST /v1/chat/completions", exc, served)
        ctx.record(request, ROUTE, response.status_code, started, served, key,
                   code=from_exception(exc).code)  # fmt: skip
    finally:
        if admission is not None and not handed_off:
            await settle_shielded(controls, admission, None)  # no-op once settled
    return versioned(headed(response, admission), served)


def _with_usage(chat: ChatRequest) -> ChatRequest:
    # the usage is needed to settle: asked of the stream always, dropped again if unwanted
    from dataclasses import replace

    return chat if chat.include_usage else replace(chat, include_usage=True)


def _hit(hit: dict[str, Any], chat: ChatRequest, usd: float | None) -> Response:
    hit["model"] = chat.model
    with_cost(hit.get("usage"), usd)
    if chat.stream:
        response: Response = sse.response(
            iter(replay_events(hit, include_usage=chat.include_usage))
        )
    else:
        response = json_response(hit)
    response.headers[CACHE_HEADER] = "hit"
    return response


async def settled_events(
    events: AsyncIterable[Any],
    controls: Controls,
    admission: Admission,
    want_usage: bool,
) -> AsyncIterator[str]:
    """Pass a stream's events on; take its usage, settle it at the end (however it
    ends) and store the assembled answer when the stream completed."""
    assembler = Assembler()
    usage: Any = None
    complete = False
    price = controls.prices.lookup(admission.version, admission.model)
    try:
        async for raw in events:
            event = raw if isinstance(raw, str) else raw.decode()
            if event == sse.DONE:
                complete = True
            elif isinstance(data := sse.data_of(event), dict) and "error" not in data:
                assembler.feed(data)
                if isinstance(data.get("usage"), dict):
                    usage = data["usage"]
                    if not want_usage:
                        if not data.get("choices"):
                            continue  # the usage chunk only the controls asked for
                        data.pop("usage")
                    else:
                        with_cost(usage, cost(usage, price))
                    event = sse.event(data)
            yield event
    finally:
        await settle_shielded(controls, admission, usage if complete else None)
        if complete:
            with anyio.CancelScope(shield=True):
                await controls.store(admission, assembler.answer())


__all__ = [
    "ChatSteps",
    "admit",
    "controlled_chat",
    "headed",
    "resolved_version",
    "settle_shielded",
    "settled_events",
    "with_cost",
]
