"""``POST /v1/chat/completions``: OpenAI-compatible chat, streamed or not.

Text chat goes through the model's adapter (streamed as the adapter's text arrives
when it is a :class:`~llmreg.adapter.ClientAdapter`); a request using pass-through
fields (tools, response_format...) goes to the client as it is
(:mod:`llmreg_gateway.streaming` when streamed).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from llmreg.adapter import ClientAdapter
from llmreg.schemas import Inputs, Result
from llmreg_gateway import sse
from llmreg_gateway.auth import ApiKey
from llmreg_gateway.completions import (
    completion,
    new_completion_id,
    stream_chunks,
)
from llmreg_gateway.context import GatewayContext
from llmreg_gateway.controlled import controlled_chat
from llmreg_gateway.controls.keys import ManagedKey
from llmreg_gateway.errors import ApiError, from_exception, row_failure
from llmreg_gateway.model import ServedModel
from llmreg_gateway.openai_compat import ChatRequest, parse_chat_request, passthrough_client
from llmreg_gateway.responses import fingerprint, json_response, usage_of, versioned
from llmreg_gateway.streaming import first_text, forward_stream, text_events
from llmreg_gateway.upstream import capped, check_result, chunk_text_size, json_size, too_large

logger = logging.getLogger(__name__)

ROUTE = "/v1/chat/completions"


class ChatRoute:
    """The chat-completions handler, bound to the app's :class:`GatewayContext`."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: OpenAI-compatible, streaming or not."""
        ctx = self.ctx
        started = time.perf_counter()
        key = served = None
        try:
            try:
                key = ctx.key(request)
            except ApiError:  # not an env/file key: maybe a managed one (else the 401)
                key = await ctx.managed_key(request)
            body = await ctx.body(request)
            chat = parse_chat_request(body)
            served = ctx.pick(chat.model, key)
            if ctx.routing:  # a rollout is active somewhere: maybe an arm answers
                served = ctx.arm_for(served, key, body, request)
            if ctx.controlled or isinstance(key, ManagedKey):
                return await controlled_chat(self, request, started, served, key, chat, body)
            if chat.stream:
                return await self.stream(request, started, served, key, chat)
            data = await self.complete(chat, served)
        except Exception as exc:
            response = ctx.failure("POST /v1/chat/completions", exc, served)
            code = from_exception(exc).code
            ctx.record(request, ROUTE, response.status_code, started, served, key, code=code)
            return versioned(response, served)
        usage = data.get("usage")
        ctx.record(request, ROUTE, 200, started, served, key,
                   usage if isinstance(usage, dict) else None)  # fmt: skip
        return versioned(json_response(data), served)

    async def stream(
        self,
        request: Request,
        started: float,
        served: ServedModel,
        key: ApiKey | None,
        chat: ChatRequest,
    ) -> Response:
        """The streamed answer: the endpoint's chunks (pass-through), the adapter's text
        as it arrives, or (an adapter that cannot stream) the whole answer as events."""
        if chat.extras:
            return await forward_stream(self.ctx, request, started, served, key, chat)
        streamed = await self._text_stream(request, started, served, key, chat)
        if streamed is not None:
            return streamed
        result = await self._answer(chat, served)
        self.ctx.record(request, ROUTE, 200, started, served, key, usage_of(result.metadata),
                        stream=True)  # fmt: skip
        events = stream_chunks(result, chat.model, chat.include_usage, fingerprint(served))
        return versioned(sse.response(events), served)

    async def complete(self, chat: ChatRequest, served: ServedModel) -> dict[str, Any]:
        """The whole ``chat.completion`` (text chat, or passed through)."""
        if chat.extras:
            return self._forwarded(served, chat, await self.forward(chat, served))
        result = await self._answer(chat, served)
        return completion(result, chat.model, fingerprint(served))

    async def _answer(self, chat: ChatRequest, served: ServedModel) -> Result:
        """The row's whole answer; a failed row raises its API error."""
        adapter = await self.ctx.adapter(served)
        outputs = await adapter.apredict(Inputs(rows=[chat.row]), {"strict": True})
        result = outputs.rows[0]
        if not result.ok:
            raise row_failure(result.metadata)
        check_result(result, self.ctx.settings.max_upstream_bytes)
        return result

    async def _text_stream(
        self,
        request: Request,
        started: float,
        served: ServedModel,
        key: ApiKey | None,
        chat: ChatRequest,
    ) -> Response | None:
        """The events of an adapter that streams (``None`` for one that cannot).

        The first chunk is awaited here: a failure before any text is an HTTP error.
        """
        adapter = await self.ctx.adapter(served)
        if not isinstance(adapter, ClientAdapter):
            return None
        limit = self.ctx.settings.max_upstream_bytes
        stream = capped(adapter.astream(chat.row), limit, chunk_text_size)
        first = await first_text(stream)  # a failure before any text is an HTTP error
        events = text_events(self.ctx, request, served, key, chat, stream, first, started)
        return versioned(sse.response(events), served)

    async def forward(self, chat: ChatRequest, served: ServedModel) -> dict[str, Any]:
        """Pass a request using tools, response_format, logprobs or n through the client.

        Raises:
            ApiError: 400 naming the first field the model's provider does not take; 502
                for an answer larger than ``max_upstream_bytes``.
            ProviderError: the endpoint (and every fallback) failed.
        """
        client = passthrough_client(await self.ctx.adapter(served), chat)
        assert chat.forward is not None
        data: dict[str, Any] = await client.achat(dict(chat.forward))
        if json_size(data) > self.ctx.settings.max_upstream_bytes:
            raise too_large(self.ctx.settings.max_upstream_bytes)
        return data

    def _forwarded(
        self, served: ServedModel, chat: ChatRequest, data: dict[str, Any]
    ) -> dict[str, Any]:
        """A passed-through answer, named as this gateway serves it."""
        data.pop("fallback_index", None)
        data.update(model=chat.model, system_fingerprint=fingerprint(served))
        data.setdefault("id", new_completion_id())
        data.setdefault("created", int(time.time()))
        data["object"] = "chat.completion"
        return data


__all__ = ["ChatRoute"]
