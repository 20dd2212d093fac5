"""One model at one endpoint: its ``AsyncOpenAI`` client, its requests, its answers.

This module imports ``openai``; the client imports it only when the first call
is made, so loading the plugin stays cheap. An :class:`Endpoint` (and its pool) is
used only from one event loop, so it needs no lock; :meth:`Endpoint.fresh` makes
the copy for another loop.
"""

from __future__ import annotations

import contextvars
import copy
import time
from collections.abc import AsyncIterator
from typing import Any

import openai

from llmreg.client import Completion, StreamChunk
from llmreg.definition import ModelDefinition
from llmreg.errors import ProviderError
from llmreg.schemas import Request
from llmreg.secrets import SECRETS, mask_userinfo
from llmreg.uris import shorten
from llmreg_litellm._errors import empty_response, provider_error
from llmreg_litellm._http import LeanPoster, lean_ok
from llmreg_litellm._redirects import refuse_cross_origin
from llmreg_litellm._rows import row_settings

#: Sent when the definition has no key: local servers need none, the SDK wants one.
PLACEHOLDER_KEY = "not-needed"
#: Where the SDK sends requests when the definition has no base_url.
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class Attempts:
    """How many HTTP requests one row has sent, retries included."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


#: The counter of the row being answered in the current task (set per row).
CURRENT_ATTEMPTS: contextvars.ContextVar[Attempts | None] = contextvars.ContextVar(
    "llmreg_litellm_attempts", default=None
)


async def _count_attempt(_request: Any) -> None:
    """httpx request hook: one more HTTP request sent for the current row."""
    attempts = CURRENT_ATTEMPTS.get()
    if attempts is not None:
        attempts.count += 1


def _int(value: Any) -> int | None:
    """A token count from a usage object, or ``None`` where it is missing or not a number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Endpoint:
    """Calls one model definition's endpoint through one lazily built ``AsyncOpenAI``."""

    def __init__(
        self, definition: ModelDefinition, api_key: str | None, extra_body: dict[str, Any]
    ) -> None:
        self.definition = definition
        self._api_key = api_key
        # Header references (env:NAME) are resolved now, with the key: a missing one fails the load.
        self._headers = definition.resolved_headers()
        # What this endpoint must never show, as the core finds it (the key, resolved
        # references, literal credential headers); the process registry gets it too, so
        # that a RedactingFilter masks it in any log line.
        self._secrets = sorted({api_key or "", *definition.resolved_secrets()} - {""})
        SECRETS.add(self._secrets)
        self._extra_body = extra_body
        self._sdk: openai.AsyncOpenAI | None = None
        # The lean path of complete and chat (see llmreg_litellm._http); False: the SDK's.
        self._poster: LeanPoster | bool | None = None
        base = mask_userinfo(definition.base_url or DEFAULT_BASE_URL)
        self.where = f"model {shorten(definition.model)} at {base}"

    def __repr__(self) -> str:
        return f"Endpoint({self.where})"

    def fresh(self) -> Endpoint:
        """A copy of this endpoint with no ``AsyncOpenAI`` yet, for another event loop."""
        duplicate = copy.copy(self)
        duplicate._sdk = None
        duplicate._poster = None
        return duplicate

    @property
    def secrets(self) -> list[str]:
        """The values to mask in any text this endpoint produces (every form of each)."""
        return list(self._secrets)

    def sdk(self) -> openai.AsyncOpenAI:
        """The endpoint's ``AsyncOpenAI``, created on first use and then reused."""
        if self._sdk is None:
            d = self.definition
            options: dict[str, Any] = {
                "api_key": self._api_key or PLACEHOLDER_KEY,
                "base_url": d.base_url or DEFAULT_BASE_URL,  # never OPENAI_BASE_URL implicitly
                "max_retries": d.max_retries if d.max_retries is not None else 2,
                "default_headers": self._headers,
                # httpx would follow a redirect to another host with every header but
                # Authorization (an api-key header too): refused there, before it is sent.
                "http_client": openai.DefaultAsyncHttpxClient(
                    event_hooks={"request": [_count_attempt], "response": [refuse_cross_origin]}
                ),
            }
            if d.timeout is not None:
                options["timeout"] = d.timeout
            self._sdk = openai.AsyncOpenAI(**options)
        return self._sdk

    def poster(self) -> LeanPoster | None:
        """The lean ``POST /chat/completions`` of this endpoint (aiohttp, the SDK's headers,
        retries and exceptions), or ``None`` where only the SDK's path sends what it would."""
        if self._poster is None:
            sdk = self.sdk()
            base = str(sdk.base_url).rstrip("/")
            headers = {"Authorization": f"Bearer {sdk.api_key}"}
            for name, value in sdk.default_headers.items():  # the SDK's, then the definition's
                if isinstance(value, str):
                    for known in [k for k in headers if k.lower() == name.lower()]:
                        del headers[known]
                    headers[name] = value
            if lean_ok(base, headers):
                retries = sdk.max_retries
                timeout = self.definition.timeout
                url = f"{base}/chat/completions"
                self._poster = LeanPoster(sdk, url, headers, timeout, retries)
            else:
                self._poster = False
        return self._poster if isinstance(self._poster, LeanPoster) else None

    async def _post(self, body: dict[str, Any], attempts: Attempts) -> Any:
        """``POST /chat/completions`` with ``body``: the lean path, else the SDK's ``post``."""
        poster = self.poster()
        if poster is not None:
            return await poster.post(body, attempts)
        return await self.sdk().post("/chat/completions", body=body, cast_to=object)

    def body(self, request: Request) -> dict[str, Any]:
        """The JSON body of one row's ``POST /chat/completions``."""
        d = self.definition
        body = {"model": d.model, "messages": request.chat_messages(d.system_prompt)}
        body.update(row_settings(d, request))
        body.update(self._extra_body)
        return body

    async def complete(self, request: Request, attempts: Attempts) -> Completion:
        """Answer one row, with the SDK's retries. Raise a typed :class:`ProviderError` on failure.

        ``attempts`` is the row's counter; the caller has made it current. The
        request goes through the lean path (:meth:`poster`: aiohttp with the SDK's
        headers, timeouts, retries and exceptions) or else the SDK's generic
        ``post``, and the JSON answer is read here: that skips the SDK's parameter
        transform, response models and most of its HTTP stack's CPU per call.
        """
        start = time.perf_counter()
        try:
            data = await self._post(self.body(request), attempts)
        except Exception as exc:  # every failure becomes a typed, scrubbed error
            raise self.error(exc, attempts.count) from None
        return self._completion(data, attempts.count, start)

    async def astream(self, request: Request, attempts: Attempts) -> AsyncIterator[StreamChunk]:
        """Stream one row: ``stream: true`` with ``stream_options.include_usage``.

        Yields the text of each upstream chunk as it arrives (empty ones skipped),
        then a chunk whose ``done`` is the whole answer with the usage and finish
        reason the endpoint sent. Raises a typed :class:`ProviderError` when the
        request fails or the stream breaks.
        """
        start = time.perf_counter()
        body = self.body(request)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        texts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        from llmreg_litellm._passthrough import stream_events  # the lean path, else the SDK's

        try:
            async for event in stream_events(self, body, attempts):
                data = event if isinstance(event, dict) else {}
                if isinstance(data.get("usage"), dict):
                    usage = data["usage"]
                for choice in data.get("choices") or ():
                    if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                        continue
                    finish = choice.get("finish_reason") or finish
                    delta = choice.get("delta")
                    text = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(text, str) and text:
                        texts.append(text)
                        yield StreamChunk(text=text)
        except ProviderError:
            raise
        except Exception as exc:  # every failure becomes a typed, scrubbed error
            raise self.error(exc, attempts.count) from None
        done = Completion(
            text="".join(texts),
            model=self.definition.model,
            latency_ms=(time.perf_counter() - start) * 1000,
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            total_tokens=_int(usage.get("total_tokens")),
            finish_reason=finish,
            attempts=attempts.count,
        )
        yield StreamChunk(done=done)

    async def chat(self, fields: dict[str, Any], attempts: Attempts) -> dict[str, Any]:
        """Send an OpenAI chat body as given (tools, response_format...) and return the JSON.

        The definition's model, system prompt (first), defaults (temperature,
        max_tokens, stop, where the body sets none) and extra body are applied.
        Raise a typed :class:`ProviderError` on failure or an answer without choices.
        """
        d = self.definition
        head = [{"role": "system", "content": d.system_prompt}] if d.system_prompt else []
        body: dict[str, Any] = {"temperature": d.temperature, "max_tokens": d.max_tokens,
                                "stop": d.stop}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        body.update(fields)
        body["model"] = d.model
        body["messages"] = head + list(fields.get("messages") or [])
        body.update(self._extra_body)
        try:
            data = await self._post(body, attempts)
        except Exception as exc:  # every failure becomes a typed, scrubbed error
            raise self.error(exc, attempts.count) from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list):
            raise self.error(ValueError("an answer without a 'choices' list"), attempts.count)
        if not choices:
            raise empty_response(self.where, attempts.count)
        assert isinstance(data, dict)
        return data

    def _completion(self, data: Any, attempts: int, start: float) -> Completion:
        """Read a chat-completion JSON answer; a body of another shape is a typed error."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list):
            shape = f"a JSON {type(data).__name__}" if not isinstance(data, str) else "text"
            raise self.error(ValueError(f"{shape} without a 'choices' list"), attempts)
        if not choices:
            raise empty_response(self.where, attempts)
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message")
        if not isinstance(message, dict):
            raise self.error(ValueError("its first choice has no 'message' object"), attempts)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(
            text=str(message.get("content") or ""),
            model=self.definition.model,
            latency_ms=(time.perf_counter() - start) * 1000,
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            total_tokens=_int(usage.get("total_tokens")),
            finish_reason=choice.get("finish_reason"),
            attempts=attempts,
        )

    def error(self, exc: BaseException, attempts: int) -> ProviderError:
        """The typed error for ``exc``, with the key scrubbed from its text."""
        return provider_error(
            exc,
            where=self.where,
            attempts=max(attempts, 1),
            timeout=self.definition.timeout,
            secrets=self.secrets,
        )

    async def aclose(self) -> None:
        """Close the connection pools (the lean path's and the SDK's), if made."""
        poster, self._poster = self._poster, None
        sdk, self._sdk = self._sdk, None
        try:
            if isinstance(poster, LeanPoster):
                await poster.aclose()
        finally:
            if sdk is not None:
                await sdk.close()
