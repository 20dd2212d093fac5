"""The ``litellm`` provider: LiteLLM's SDK in-process (``litellm.acompletion``).

A definition such as ``{"provider": "litellm", "model": "anthropic/claude-3-5-haiku-latest",
"api_key": "env:ANTHROPIC_API_KEY"}`` is answered by LiteLLM's own route for that
prefix (Anthropic, Bedrock, Vertex, Gemini, Mistral, Azure...), with no proxy in
between. It keeps the behaviour of the ``openai`` provider:

- ``batch``/``abatch`` answer at most ``concurrency`` rows at once, in order, a
  failed row giving its typed error in place;
- retries (``max_retries``, on 429, 5xx, timeouts and lost connections) are done
  here, so ``Completion.attempts`` counts the requests really sent; ``timeout``
  bounds each request;
- fallbacks are tried in order, and may use other LiteLLM routes
  (``"gemini/..."`` after ``"anthropic/..."``) or an OpenAI-compatible endpoint
  (a fallback with ``"provider": "openai"`` and a ``base_url``);
- LiteLLM's exception classes become llmreg's ``Provider*Error`` classes;
- usage and ``finish_reason`` are read from LiteLLM's answer;
- ``astream`` streams (``stream=True`` with ``stream_options.include_usage``): the
  text as it arrives, then the whole answer; fallbacks and retries apply before
  the first text, a failure after it is a typed error;
- ``api_key`` references are resolved when the client is built, added to
  :data:`llmreg.secrets.SECRETS` and masked in every error text.

``definition.options`` are passed to ``litellm.acompletion`` as keyword arguments
(``mock_response``, ``api_version``, ``aws_region_name``, ``vertex_project``...),
except the ones this client sets itself (:data:`RESERVED_OPTIONS`).

``litellm`` costs seconds to import: this module imports it only when the first
client is built (``pip install 'llmreg-litellm[sdk]'``). LiteLLM caches its HTTP
sessions process-wide, bound to the event loop that made them; so every call of
every :class:`LiteLLMClient` runs on one shared loop thread, started with the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

from llmreg.capabilities import StreamingClient
from llmreg.client import Completion, RowResult, StreamChunk
from llmreg.definition import ModelDefinition, resolve_api_key
from llmreg.errors import (
    ConfigError,
    ProviderError,
    ProviderResponseError,
)
from llmreg.schemas import Request
from llmreg.secrets import SECRETS, mask_userinfo, redact
from llmreg.uris import shorten
from llmreg_litellm._errors import attempts_text, kind_of, typed_error
from llmreg_litellm._loop import LoopThread
from llmreg_litellm._rows import answer_rows, chain_failed, row_settings
from llmreg_litellm._sync import LoopClient

T = TypeVar("T")

#: Keyword arguments of ``litellm.acompletion`` that the client sets itself; an
#: ``options`` entry naming one is a :class:`~llmreg.errors.ConfigError`.
RESERVED_OPTIONS = frozenset(
    {
        "model",
        "messages",
        "api_key",
        "api_base",
        "base_url",
        "stream",
        "stream_options",
        "num_retries",
        "max_retries",
        "timeout",
        "extra_headers",
        "fallbacks",
    }
)
#: The providers a fallback of a ``litellm`` model may name.
FALLBACK_PROVIDERS = ("litellm", "openai")
#: Installing what this provider needs.
INSTALL_HINT = "pip install 'llmreg-litellm[sdk]'"

_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def _import_litellm() -> Any:
    """Import ``litellm`` quietly (no cost-map download, no banners).

    Raises:
        ConfigError: LiteLLM is not installed.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        with warnings.catch_warnings():  # pydantic warns about LiteLLM's own TypedDicts
            warnings.simplefilter("ignore")
            import litellm
    except ImportError as exc:
        raise ConfigError(
            f"the 'litellm' provider needs LiteLLM's SDK, which is not installed ({exc}); "
            f"run: {INSTALL_HINT}"
        ) from None
    if not hasattr(litellm, "acompletion"):  # a folder named litellm on sys.path
        raise ConfigError(
            f"the 'litellm' provider needs LiteLLM's SDK; 'litellm' imports from "
            f"{list(getattr(litellm, '__path__', []))}, which is not it; run: {INSTALL_HINT}"
        )
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def shared_loop() -> LoopThread:
    """The loop thread every LiteLLM call of the process runs on (started on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = LoopThread(name="llmreg-litellm-sdk")
        return _shared


def _route(definition: ModelDefinition, primary: str) -> str:
    """The LiteLLM model string for one model of the chain."""
    if definition.provider == "openai" and primary != "openai":
        model = definition.model
        return model if model.startswith("openai/") else f"openai/{model}"
    return definition.model


class _Target:
    """One model of the chain: its LiteLLM arguments, secrets and name in messages."""

    def __init__(self, definition: ModelDefinition, primary: str) -> None:
        self.definition = definition
        key = resolve_api_key(definition.api_key)
        self.secrets = sorted({key or "", *definition.resolved_secrets()} - {""})
        SECRETS.add(self.secrets)
        self.model = _route(definition, primary)
        kwargs: dict[str, Any] = dict(definition.options)
        kwargs.update(model=self.model, num_retries=0, max_retries=0)
        if key:
            kwargs["api_key"] = key
        if definition.base_url:
            kwargs["api_base"] = definition.base_url
        if definition.timeout is not None:
            kwargs["timeout"] = float(definition.timeout)
        headers = definition.resolved_headers()
        if headers:
            kwargs["extra_headers"] = headers
        self.kwargs = kwargs
        self.retries = definition.max_retries if definition.max_retries is not None else 2
        base = f" at {mask_userinfo(definition.base_url)}" if definition.base_url else ""
        self.where = f"model {shorten(self.model)}{base} (LiteLLM)"

    def arguments(self, request: Request) -> dict[str, Any]:
        """The keyword arguments of ``litellm.acompletion`` for one row."""
        arguments = dict(self.kwargs)
        arguments["messages"] = request.chat_messages(self.definition.system_prompt)
        arguments.update(row_settings(self.definition, request))
        return arguments


def _check(definition: ModelDefinition) -> None:
    """Refuse options this client sets itself, and fallbacks of an unsupported provider."""
    reserved = sorted(set(definition.options) & RESERVED_OPTIONS)
    if reserved:
        raise ConfigError(
            f"options {reserved} are set by the litellm provider itself; use the definition's "
            "own fields (model, base_url, api_key, timeout, max_retries, extra_headers, "
            "fallbacks) instead"
        )
    for index, fallback in enumerate(definition.fallbacks):
        if fallback.provider is not None and fallback.provider not in FALLBACK_PROVIDERS:
            raise ConfigError(
                f"fallbacks[{index}] (model {fallback.model!r}): provider {fallback.provider!r} "
                "is not supported after a litellm model; use a LiteLLM route as the model "
                "(such as 'gemini/gemini-2.0-flash') or provider 'openai' with a base_url"
            )


def _retryable(litellm: Any, exc: BaseException) -> bool:
    """Whether another attempt may succeed: 429, 5xx, a timeout or a lost connection."""
    if isinstance(exc, litellm.RateLimitError | litellm.Timeout | litellm.APIConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status >= 500


#: The litellm provider's own advice, where it differs from the openai provider's
#: (:data:`llmreg_litellm._errors.KINDS` holds the messages of both).
HINTS = {
    "not_found": "Check the model name (a LiteLLM route such as 'anthropic/claude-...') and "
    "the base_url.",
    "bad_request": "Check the row's messages and params and the definition's generation "
    "settings and options.",
    "timeout": "Raise 'timeout' in the model definition.",
    "unreachable": "Check the base_url and the network.",
    "status": "The provider failed; retry later or add a fallback model.",
}


def provider_error(exc: BaseException, target: _Target, attempts: int) -> ProviderError:
    """Map what ``litellm.acompletion`` raised to llmreg's typed error, secrets masked.

    LiteLLM's exception classes subclass the openai SDK's, so the one mapping of
    :mod:`llmreg_litellm._errors` applies (with this provider's advice, :data:`HINTS`).
    """
    where = target.where
    detail = SECRETS.redact(redact(str(exc) or type(exc).__name__, target.secrets))
    detail = detail.removeprefix(f"litellm.{type(exc).__name__}: ")
    if len(detail) > 500:
        detail = detail[:500] + "..."
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    kind = kind_of(exc)
    if kind == "unreachable" and "json" in detail.lower():
        return ProviderResponseError(
            f"{where} answered with a body LiteLLM could not read {attempts_text(attempts)}: "
            f"{detail}. Check that base_url points at the provider's API.",
            status_code=status,
            attempts=attempts,
        )
    if kind in (None, "bad_body", "status") and (
        "Cannot connect to host" in detail or "Connection refused" in detail
    ):
        kind = "unreachable"
    elif kind in (None, "bad_body") and status is not None:
        kind = "status"
    if kind is None or kind == "bad_body":
        return ProviderResponseError(
            f"{where} failed with {type(exc).__name__}: {detail}.", attempts=attempts
        )
    return typed_error(
        kind,
        where,
        detail,
        attempts=attempts,
        status=status,
        timeout=target.definition.timeout,
        hint=HINTS.get(kind),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _completion(target: _Target, response: Any, attempts: int, start: float) -> Completion:
    """Read LiteLLM's ``ModelResponse`` into a :class:`Completion`."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise ProviderResponseError(
            f"{target.where} answered with no choices.", status_code=200, attempts=attempts
        )
    choice = choices[0]
    message = getattr(choice, "message", None)
    usage = getattr(response, "usage", None)
    return Completion(
        text=str(getattr(message, "content", None) or ""),
        model=target.definition.model,
        latency_ms=(time.perf_counter() - start) * 1000,
        prompt_tokens=_int(getattr(usage, "prompt_tokens", None)),
        completion_tokens=_int(getattr(usage, "completion_tokens", None)),
        total_tokens=_int(getattr(usage, "total_tokens", None)),
        finish_reason=getattr(choice, "finish_reason", None),
        attempts=attempts,
    )


class LiteLLMClient(StreamingClient, LoopClient):
    """A :class:`~llmreg.client.Client` running LiteLLM's SDK in-process; it streams
    (:class:`~llmreg.capabilities.StreamingClient`).

    Args:
        definition: the model definition (``model`` is a LiteLLM route such as
            ``"anthropic/claude-3-5-haiku-latest"``); its fallbacks are tried in order.

    Raises:
        ConfigError: LiteLLM is not installed, ``options`` name an argument the
            client sets itself, or a fallback names an unsupported provider.
        SecretResolutionError: an ``api_key`` or header reference names an unset variable.
    """

    SYNC_NAME = "litellm"

    def __init__(self, definition: ModelDefinition) -> None:
        _check(definition)
        chain = [definition, *definition.resolved_fallbacks()]
        # Resolve every key now: a missing variable fails the load, not the first row.
        self._chain = [_Target(d, definition.provider) for d in chain]
        self._litellm = _import_litellm()
        super().__init__(definition, shared_loop())

    def __repr__(self) -> str:
        names = ", ".join(repr(t.model) for t in self._chain[1:])
        fallbacks = f", fallbacks=[{names}]" if names else ""
        return f"LiteLLMClient(model={self._chain[0].model!r}{fallbacks})"

    # --- the Client interface ------------------------------------------------

    async def abatch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Async form of :meth:`batch`: the rows run on the shared LiteLLM loop, awaited here."""
        bound = self._concurrency(concurrency)
        future = self._submit(self._batch(list(requests), bound))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            if self._closed:
                raise self._closed_error() from None
            raise

    async def astream(self, request: Request) -> AsyncIterator[StreamChunk]:
        """Stream one request: its text as LiteLLM yields it, then a chunk whose ``done``
        is the whole answer (usage, finish reason, ``fallback_index``).

        The stream runs on the shared LiteLLM loop; its chunks are handed to the
        caller's loop as they arrive. A model of the chain that fails before its first
        text is retried (``max_retries``) and then skipped for the next one; a failure
        after text was sent raises its typed :class:`~llmreg.errors.ProviderError`.
        Leaving the loop early stops the upstream request.
        """
        if self._loop.in_loop_thread():
            async for chunk in self._stream(request):
                yield chunk
            return
        caller = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def hand(kind: str, item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone
                caller.call_soon_threadsafe(queue.put_nowait, (kind, item))

        async def pump() -> None:
            try:
                async for chunk in self._stream(request):
                    hand("chunk", chunk)
            except BaseException as exc:  # cancelled included: the caller is told
                hand("error", exc)
                raise
            hand("end", None)

        future = self._submit(pump())
        try:
            while True:
                kind, item = await queue.get()
                if kind == "end":
                    return
                if kind == "error":
                    if isinstance(item, asyncio.CancelledError) and self._closed:
                        raise self._closed_error()
                    raise item
                yield item
        finally:
            future.cancel()  # the caller left early: stop the upstream request

    def close(self) -> None:
        """End calls still waiting with a :class:`~llmreg.errors.PredictionError`. Safe twice.

        The shared loop and LiteLLM's HTTP sessions stay, for the process's other clients.
        """
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        for future in pending:
            future.cancel()

    # --- internals -------------------------------------------------------------

    async def _batch(self, requests: list[Request], concurrency: int) -> list[RowResult]:
        return await answer_rows(self._complete, requests, concurrency)

    async def _stream(self, request: Request) -> AsyncIterator[StreamChunk]:
        """The stream of :meth:`astream`, on the shared loop: the chain, the retries."""
        litellm = self._litellm
        start = time.perf_counter()
        total = 0
        failures: list[ProviderError] = []
        for index, target in enumerate(self._chain):
            arguments = target.arguments(request)
            arguments.update(stream=True, stream_options={"include_usage": True})
            attempts = 0
            while True:
                attempts += 1
                texts: list[str] = []
                finish: str | None = None
                usage: Any = None
                try:
                    stream = await litellm.acompletion(**arguments)
                    async for part in stream:
                        usage = getattr(part, "usage", None) or usage
                        for choice in getattr(part, "choices", None) or ():
                            if getattr(choice, "index", 0) != 0:
                                continue
                            finish = getattr(choice, "finish_reason", None) or finish
                            text = getattr(getattr(choice, "delta", None), "content", None)
                            if isinstance(text, str) and text:
                                texts.append(text)
                                yield StreamChunk(text=text)
                except Exception as exc:  # every failure becomes a typed, scrubbed error
                    if texts:  # text was sent: no retry, no fallback
                        # LiteLLM wraps a broken stream in MidStreamFallbackError (HTTP
                        # 500); what broke it is its original_exception
                        cause = getattr(exc, "original_exception", None)
                        cause = cause if isinstance(cause, Exception) else exc
                        raise provider_error(cause, target, attempts) from None
                    if attempts <= target.retries and _retryable(litellm, exc):
                        await asyncio.sleep(min(0.05 * 2 ** (attempts - 1), 2.0))
                        continue
                    failures.append(provider_error(exc, target, attempts))
                    total += attempts
                    break
                total += attempts
                done = Completion(
                    text="".join(texts),
                    model=target.definition.model,
                    latency_ms=(time.perf_counter() - start) * 1000,
                    prompt_tokens=_int(getattr(usage, "prompt_tokens", None)),
                    completion_tokens=_int(getattr(usage, "completion_tokens", None)),
                    total_tokens=_int(getattr(usage, "total_tokens", None)),
                    finish_reason=finish,
                    attempts=total,
                    extra={"fallback_index": index},
                )
                yield StreamChunk(done=done)
                return
        raise chain_failed(failures, total)

    async def _attempt(self, target: _Target, request: Request) -> tuple[Completion, int]:
        """Call one model with its retries; return the completion and the attempts made."""
        litellm = self._litellm
        arguments = target.arguments(request)
        attempts = 0
        while True:
            attempts += 1
            start = time.perf_counter()
            try:
                response = await litellm.acompletion(**arguments)
            except Exception as exc:  # every failure becomes a typed, scrubbed error
                if attempts <= target.retries and _retryable(litellm, exc):
                    await asyncio.sleep(min(0.05 * 2 ** (attempts - 1), 2.0))
                    continue
                raise provider_error(exc, target, attempts) from None
            return _completion(target, response, attempts, start), attempts

    async def _complete(self, request: Request) -> Completion:
        start = time.perf_counter()
        total = 0
        failures: list[ProviderError] = []
        for index, target in enumerate(self._chain):
            try:
                done, attempts = await self._attempt(target, request)
            except ProviderError as exc:
                total += exc.attempts or 1
                failures.append(exc)
                continue
            total += attempts
            return Completion(
                text=done.text,
                model=done.model,
                latency_ms=(time.perf_counter() - start) * 1000,
                prompt_tokens=done.prompt_tokens,
                completion_tokens=done.completion_tokens,
                total_tokens=done.total_tokens,
                finish_reason=done.finish_reason,
                attempts=total,
                extra={"fallback_index": index},
            )
        raise chain_failed(failures, total)


__all__ = ["FALLBACK_PROVIDERS", "INSTALL_HINT", "RESERVED_OPTIONS", "LiteLLMClient"]
