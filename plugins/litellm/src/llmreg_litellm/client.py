"""The ``openai`` provider's client: any OpenAI-compatible chat endpoint, on the openai SDK.

:class:`OpenAICompatibleClient` is built once per loaded model. It owns a private
event loop in one daemon thread (:class:`~llmreg_litellm._loop.LoopThread`) and,
on that loop, one ``AsyncOpenAI`` (one connection pool) per model of the chain:
the primary and each fallback, each created on first use. Sync and async
callers, from any thread, schedule their rows on that loop, so:

- ``batch`` works with or without a running event loop in the calling thread,
  and never creates a loop or a client per row;
- ``abatch`` awaits the same work without blocking the caller's loop;
- at most ``concurrency`` rows of one call are in flight, and order is kept.

Retries and timeouts are the SDK's own (``max_retries``, ``timeout``). When a
model fails after its retries, the next model of the chain is tried. The API
key is resolved when the client is built, and never shows in a repr or an
error message.

This module imports no ``openai`` at import time; :mod:`llmreg_litellm._endpoint`
does, and it is imported when the client is built.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
import weakref
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from llmreg.client import Client, Completion, RowResult
from llmreg.definition import ModelDefinition, resolve_api_key
from llmreg.errors import ConfigError, PredictionError, ProviderError
from llmreg.schemas import Request
from llmreg_litellm._loop import LoopThread

if TYPE_CHECKING:
    from llmreg_litellm._endpoint import Endpoint

T = TypeVar("T")


def _check_fallback_providers(definition: ModelDefinition) -> None:
    """Refuse a fallback whose ``provider`` is set and is not the definition's.

    Raises:
        ConfigError: naming the fallback (index, model and provider).
    """
    for index, fallback in enumerate(definition.fallbacks):
        if fallback.provider is not None and fallback.provider != definition.provider:
            raise ConfigError(
                f"fallbacks[{index}] (model {fallback.model!r}, provider "
                f"{fallback.provider!r}): a fallback with another provider is not supported "
                f"by the {definition.provider} provider; give it a base_url instead "
                "(and drop its provider field)"
            )


class OpenAICompatibleClient(Client):
    """A :class:`~llmreg.client.Client` for OpenAI-compatible chat-completions endpoints.

    Args:
        definition: the model definition; its fallbacks are tried in order.
        extra_body: merged into every request body (e.g. ``{"cache_prompt": False}``
            for llama.cpp's server).

    Raises:
        ConfigError: a fallback names another ``provider`` than the definition's
            (every model of the chain is called through this client).
        SecretResolutionError: an ``api_key`` reference (of the model or of a
            fallback) names an unset environment variable.
    """

    def __init__(
        self, definition: ModelDefinition, *, extra_body: dict[str, Any] | None = None
    ) -> None:
        from llmreg_litellm._endpoint import Endpoint

        _check_fallback_providers(definition)
        self.definition = definition
        chain = [definition, *definition.resolved_fallbacks()]
        body = dict(extra_body or {})
        # Resolve every key now: a missing variable fails the load, not the first row.
        self._chain: list[Endpoint] = [Endpoint(d, resolve_api_key(d.api_key), body) for d in chain]
        self._loop = LoopThread(name=f"llmreg-openai-{definition.model}")
        self._closed = False
        self._lock = threading.Lock()  # orders submissions against close()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._finalizer = weakref.finalize(self, self._loop.stop)

    def __repr__(self) -> str:
        names = ", ".join(repr(e.definition.model) for e in self._chain[1:])
        fallbacks = f", fallbacks=[{names}]" if names else ""
        base = self.definition.base_url or "default"
        model = self.definition.model
        return f"OpenAICompatibleClient(model={model!r}, base_url={base}{fallbacks})"

    # --- the Client interface ------------------------------------------------

    def complete(self, request: Request) -> Completion:
        """Answer one request, trying the fallbacks in order.

        Raises:
            ProviderError: a typed subclass, when every model of the chain failed.
        """
        return self._run(self._complete(request))

    def batch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Answer many requests, at most ``concurrency`` at once, in their order.

        A failed row yields its :class:`~llmreg.errors.ProviderError` in place.
        Callable from any thread, with or without a running event loop there.
        """
        return self._run(self._batch(list(requests), self._concurrency(concurrency)))

    async def abatch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Async form of :meth:`batch`: awaits the same work on the client's loop."""
        future = self._submit(self._batch(list(requests), self._concurrency(concurrency)))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if self._closed and future.cancelled():  # close() ran while this call waited
                raise self._closed_error() from None
            raise

    def close(self) -> None:
        """Close the connection pools and stop the loop thread. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending)
        for future in pending:  # calls still waiting end with a PredictionError
            future.cancel()
        try:
            if self._loop.running and not self._loop.in_loop_thread():
                self._loop.submit(self._aclose()).result(timeout=10)
        finally:
            self._finalizer()  # the loop thread stops even if a pool failed to close

    # --- internals -------------------------------------------------------------

    def _concurrency(self, concurrency: int | None) -> int:
        value = self.definition.concurrency if concurrency is None else concurrency
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"concurrency must be a positive integer, not {value!r}")
        return value

    def _closed_error(self) -> PredictionError:
        return PredictionError(
            f"{self!r} is closed; build a new client (load the model again) to call it"
        )

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        with self._lock:
            if not self._closed and self._loop.running:
                future = self._loop.submit(coro)
                self._pending.add(future)
                future.add_done_callback(self._pending.discard)
                return future
        coro.close()
        raise self._closed_error()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.in_loop_thread():
            coro.close()
            raise PredictionError(
                "the sync API of the openai client was called from its own event loop; "
                "await abatch() there instead"
            )
        future = self._submit(coro)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self._closed:  # close() ran while this call waited
                raise self._closed_error() from None
            raise
        except BaseException:
            future.cancel()
            raise

    async def _batch(self, requests: list[Request], concurrency: int) -> list[RowResult]:
        gate = asyncio.Semaphore(concurrency)

        async def row(request: Request) -> RowResult:
            async with gate:
                try:
                    return await self._complete(request)
                except ProviderError as exc:
                    return exc

        return list(await asyncio.gather(*(row(r) for r in requests)))

    async def _complete(self, request: Request) -> Completion:
        from llmreg_litellm._endpoint import CURRENT_ATTEMPTS, Attempts

        start = time.perf_counter()
        total = 0
        failures: list[ProviderError] = []
        for index, endpoint in enumerate(self._chain):
            attempts = Attempts()
            token = CURRENT_ATTEMPTS.set(attempts)
            try:
                done = await endpoint.complete(request, attempts)
            except ProviderError as exc:
                failures.append(exc)
                continue
            finally:
                CURRENT_ATTEMPTS.reset(token)
                total += attempts.count
            return dataclasses.replace(
                done,
                latency_ms=(time.perf_counter() - start) * 1000,
                attempts=total,
                extra={**done.extra, "fallback_index": index},
            )
        raise _chain_failed(failures, total)

    async def _aclose(self) -> None:
        for endpoint in self._chain:
            await endpoint.aclose()


def _chain_failed(failures: list[ProviderError], attempts: int) -> ProviderError:
    """The error for a row that every model of the chain failed: the last error's type."""
    last = failures[-1]
    if len(failures) == 1:
        return last
    steps = "; then ".join(str(f) for f in failures)
    error = type(last)(
        f"every model of the chain failed: {steps}",
        status_code=last.status_code,
        attempts=attempts,
    )
    return error
