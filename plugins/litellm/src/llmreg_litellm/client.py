"""The ``openai`` provider's client: any OpenAI-compatible chat endpoint, on the openai SDK.

:class:`OpenAICompatibleClient` is built once per loaded model. It owns a private
event loop in one daemon thread (:class:`~llmreg_litellm._loop.LoopThread`) and,
on that loop, one ``AsyncOpenAI`` (one connection pool) per model of the chain:
the primary and each fallback, each created on first use. So:

- ``batch`` (sync, from any thread, with or without a running event loop there)
  schedules its rows on the private loop, and never creates a loop or a client
  per row;
- ``abatch`` runs on the caller's own event loop, with one ``AsyncOpenAI`` per
  model of the chain for that loop, created on first use and reused by every
  later call from it. An async host (the serving app) thus makes no thread hop
  per request: that hop cost a quarter of the server's CPU per request;
- at most ``concurrency`` rows of one call are in flight, and order is kept;
- :meth:`~OpenAICompatibleClient.close` ends calls still waiting with a typed
  error and closes every pool, the private loop's and the callers' loops';
  :meth:`~OpenAICompatibleClient.aclose` does the same from async code without
  blocking its loop, and closes that loop's pools before it returns.

Retries and timeouts are the SDK's own (``max_retries``, ``timeout``). When a
model fails after its retries, the next model of the chain is tried. The API
key is resolved when the client is built, and never shows in a repr or an
error message, in any form (:mod:`llmreg.secrets` masks it); it is added to the
process's :data:`llmreg.secrets.SECRETS`, so log handlers with a
:class:`~llmreg.secrets.RedactingFilter` mask it too.

This module imports no ``openai`` at import time; :mod:`llmreg_litellm._endpoint`
does, and it is imported when the client is built.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Sequence,
)
from typing import TYPE_CHECKING, Any, TypeVar

from llmreg.capabilities import ChatPassThrough, StreamingClient
from llmreg.client import Completion, RowResult, StreamChunk
from llmreg.definition import ModelDefinition, resolve_api_key
from llmreg.errors import ConfigError, ProviderError
from llmreg.schemas import Request
from llmreg.secrets import mask_userinfo
from llmreg_litellm._loop import LoopThread
from llmreg_litellm._sync import LoopClient

if TYPE_CHECKING:
    from llmreg_litellm._endpoint import Attempts, Endpoint

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


class OpenAICompatibleClient(StreamingClient, ChatPassThrough, LoopClient):
    """A :class:`~llmreg.client.Client` for OpenAI-compatible chat-completions endpoints.

    It declares :class:`~llmreg.capabilities.StreamingClient` (``astream`` streams the
    endpoint's answer) and :class:`~llmreg.capabilities.ChatPassThrough` (``achat``).

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

    SYNC_NAME = "openai"

    #: What :meth:`achat` passes through to an OpenAI-compatible endpoint.
    CHAT_FIELDS = frozenset(
        {"tools", "tool_choice", "response_format", "logprobs", "top_logprobs", "n",
         "parallel_tool_calls", "tool_messages"}
    )  # fmt: skip

    def __init__(
        self, definition: ModelDefinition, *, extra_body: dict[str, Any] | None = None
    ) -> None:
        from llmreg_litellm._endpoint import Endpoint

        _check_fallback_providers(definition)
        chain = [definition, *definition.resolved_fallbacks()]
        body = dict(extra_body or {})
        # Resolve every key now: a missing variable fails the load, not the first row.
        self._chain: list[Endpoint] = [Endpoint(d, resolve_api_key(d.api_key), body) for d in chain]
        super().__init__(definition, LoopThread(name=f"llmreg-openai-{definition.model}"))
        # abatch's state: per caller loop, its endpoints and the async generator that
        # closes them (see _until_closed); and the batches running on caller loops.
        self._loop_pools: dict[asyncio.AbstractEventLoop, _LoopPools] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finalizer = weakref.finalize(self, self._loop.stop)

    def __repr__(self) -> str:
        names = ", ".join(repr(e.definition.model) for e in self._chain[1:])
        fallbacks = f", fallbacks=[{names}]" if names else ""
        base = mask_userinfo(self.definition.base_url or "default")
        model = self.definition.model
        return f"OpenAICompatibleClient(model={model!r}, base_url={base}{fallbacks})"

    # --- the Client interface ------------------------------------------------

    async def abatch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Async form of :meth:`batch`, run on the caller's event loop.

        The first call from a loop builds that loop's ``AsyncOpenAI`` clients
        (one per model of the chain); later calls from it reuse them. They are
        closed by :meth:`close`, or when the loop shuts down (``asyncio.run``
        closes its async generators before it closes the loop).
        """
        bound = self._concurrency(concurrency)
        loop = asyncio.get_running_loop()
        chain = self._chain if self._loop.in_loop_thread() else await self._loop_chain(loop)
        with self._lock:
            if self._closed:
                raise self._closed_error()
            task = loop.create_task(self._batch(list(requests), bound, chain))
            self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            return await task
        except asyncio.CancelledError:
            if self._closed and task.cancelled():  # close() ran while this call waited
                raise self._closed_error() from None
            raise

    async def achat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send an OpenAI chat body as given (tools, response_format, logprobs, n...) on
        the caller's loop, trying the fallbacks in order; return the endpoint's JSON
        answer (``fallback_index`` added).

        Raises:
            ProviderError: a typed subclass, when every model of the chain failed.
        """
        chain = await self._caller_chain()
        data, index, _ = await _first_answer(chain, lambda e, a: e.chat(body, a))
        return {**data, "fallback_index": index}

    async def achat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream a passed-through chat body from the endpoint, on the caller's event loop.

        Sends the body as :meth:`achat` does, with ``stream: true`` and
        ``stream_options.include_usage``, and yields the endpoint's
        ``chat.completion.chunk`` objects as they arrive (tool-call fragments,
        logprobs, several choices, the usage chunk), unchanged. A model of the chain
        that fails before its first chunk is skipped for the next one; a failure
        after it raises its typed :class:`~llmreg.errors.ProviderError`.

        Raises:
            ProviderError: a typed subclass, when every model of the chain failed
                before its first chunk, or when the stream broke after it.
        """
        from llmreg_litellm._endpoint import CURRENT_ATTEMPTS, Attempts
        from llmreg_litellm._errors import empty_response
        from llmreg_litellm._passthrough import stream_chat

        chain = await self._caller_chain()
        total = 0
        failures: list[ProviderError] = []
        for endpoint in chain:
            attempts = Attempts()
            token = CURRENT_ATTEMPTS.set(attempts)
            stream = stream_chat(endpoint, body, attempts)
            try:
                first = await anext(stream, None)
                if first is None:
                    raise empty_response(endpoint.where, max(attempts.count, 1))
            except ProviderError as exc:
                failures.append(exc)
                await stream.aclose()
                continue
            finally:
                CURRENT_ATTEMPTS.reset(token)  # the request was sent in this anext
                total += attempts.count
            try:
                yield first
                async for chunk in stream:
                    yield chunk
            finally:
                await stream.aclose()
            return
        raise _chain_failed(failures, total)

    async def astream(self, request: Request) -> AsyncIterator[StreamChunk]:
        """Stream one request from the endpoint, on the caller's event loop.

        Sends ``stream: true`` with ``stream_options.include_usage`` and yields the
        text as the endpoint sends it, then a chunk whose ``done`` is the whole
        answer (usage, finish reason, ``fallback_index``). A model of the chain that
        fails before its first text is skipped for the next one; a failure after
        text was sent raises its typed :class:`~llmreg.errors.ProviderError`.
        """
        from llmreg_litellm._endpoint import CURRENT_ATTEMPTS, Attempts

        chain = await self._caller_chain()
        start = time.perf_counter()
        total = 0
        failures: list[ProviderError] = []
        for index, endpoint in enumerate(chain):
            attempts = Attempts()
            token = CURRENT_ATTEMPTS.set(attempts)
            started = False
            try:
                async for chunk in endpoint.astream(request, attempts):
                    if chunk.done is not None:
                        done = dataclasses.replace(
                            chunk.done,
                            latency_ms=(time.perf_counter() - start) * 1000,
                            attempts=total + attempts.count,
                            extra={**chunk.done.extra, "fallback_index": index},
                        )
                        chunk = StreamChunk(text=chunk.text, done=done)
                    started = True
                    yield chunk
                return
            except ProviderError as exc:
                if started:
                    raise
                failures.append(exc)
            finally:
                # a host may resume the stream from another task (another context)
                with contextlib.suppress(ValueError):
                    CURRENT_ATTEMPTS.reset(token)
                total += attempts.count
        raise _chain_failed(failures, total)

    def close(self) -> None:
        """Close the connection pools and stop the loop thread. Safe to call twice.

        Calls still waiting end with a :class:`~llmreg.errors.PredictionError`.
        A caller loop's pools are closed on that loop: now, if it runs in another
        thread (this waits up to 10 s for it); soon, if ``close`` is called from
        code running on it; at its shutdown, if it is not running. Async code
        awaits :meth:`aclose` instead, which never blocks its loop.
        """
        loop_pools = self._begin_close()
        if loop_pools is None:
            return
        try:
            if self._loop.running and not self._loop.in_loop_thread():
                self._loop.submit(_aclose(self._chain)).result(timeout=10)
            for loop, pools in loop_pools:
                _close_on(loop, pools)
        finally:
            self._finalizer()  # the loop thread stops even if a pool failed to close

    async def aclose(self) -> None:
        """Async form of :meth:`close`, for async code: it never blocks the caller's loop.

        The pools of the caller's loop are closed on it before this returns; the
        private loop's pools, and those of other loops still running, are closed
        on their own loops while this awaits them (up to 10 s each); then the loop
        thread stops. Calls still waiting end with a
        :class:`~llmreg.errors.PredictionError`. Safe to call twice, and after
        :meth:`close`.
        """
        loop_pools = self._begin_close()
        if loop_pools is None:
            return
        current = asyncio.get_running_loop()
        try:
            if self._loop.in_loop_thread():
                await _aclose(self._chain)
            elif self._loop.running:
                await _within(self._loop.submit(_aclose(self._chain)))
            for loop, pools in loop_pools:
                if loop is current:
                    await pools.close()
                elif loop.is_running() and not loop.is_closed():
                    await _within(asyncio.run_coroutine_threadsafe(pools.close(), loop))
                # else: nothing can run there now; the loop closes them at its shutdown
        finally:
            self._finalizer.detach()  # the thread stops here, awaited, not joined
            await self._loop.astop()

    # --- internals -------------------------------------------------------------

    def _begin_close(self) -> list[tuple[asyncio.AbstractEventLoop, _LoopPools]] | None:
        """Mark the client closed and cancel what waits; ``None`` if it was closed already.

        Returns the caller loops' pools, for :meth:`close` or :meth:`aclose` to close.
        """
        with self._lock:
            if self._closed:
                return None
            self._closed = True
            pending = list(self._pending)
            tasks = list(self._tasks)
            loop_pools = list(self._loop_pools.items())
            self._loop_pools.clear()
        for future in pending:  # calls still waiting end with a PredictionError
            future.cancel()
        for task in tasks:
            _run_on(task.get_loop(), task.cancel)
        return loop_pools

    async def _caller_chain(self) -> list[Endpoint]:
        """The endpoints for the caller's running loop (the client's own in its loop
        thread); raises the closed error when the client is closed."""
        if self._loop.in_loop_thread():
            chain = self._chain
        else:
            chain = await self._loop_chain(asyncio.get_running_loop())
        if self._closed:
            raise self._closed_error()
        return chain

    async def _loop_chain(self, loop: asyncio.AbstractEventLoop) -> list[Endpoint]:
        """The endpoints of the running ``loop``, built on its first call.

        Their closer is started first, so that the loop closes it at shutdown; the
        entries of loops closed since are dropped when a new loop is seen.
        """
        known = self._loop_pools.get(loop)
        if known is not None:
            return known.chain
        pools = _LoopPools([endpoint.fresh() for endpoint in self._chain])
        await pools.closer.asend(None)  # runs to its yield at once: no other call interleaves
        with self._lock:
            closed = self._closed
            if not closed:
                for gone in [other for other in self._loop_pools if other.is_closed()]:
                    del self._loop_pools[gone]
                self._loop_pools[loop] = pools
        if closed:
            await pools.closer.aclose()
            raise self._closed_error()
        return pools.chain

    async def _batch(
        self, requests: list[Request], concurrency: int, chain: list[Endpoint] | None = None
    ) -> list[RowResult]:
        from llmreg_litellm._rows import answer_rows

        return await answer_rows(lambda r: self._complete(r, chain), requests, concurrency)

    async def _complete(self, request: Request, chain: list[Endpoint] | None = None) -> Completion:
        start = time.perf_counter()
        done, index, total = await _first_answer(
            chain or self._chain, lambda e, a: e.complete(request, a)
        )
        return dataclasses.replace(
            done,
            latency_ms=(time.perf_counter() - start) * 1000,
            attempts=total,
            extra={**done.extra, "fallback_index": index},
        )


async def _first_answer(
    chain: list[Endpoint], call: Callable[[Endpoint, Attempts], Awaitable[T]]
) -> tuple[T, int, int]:
    """Call each endpoint of ``chain`` in order until one answers: return its answer, its
    index in the chain and the attempts made by every endpoint tried.

    Raises:
        ProviderError: every endpoint failed (:func:`_chain_failed` of their errors).
    """
    from llmreg_litellm._endpoint import CURRENT_ATTEMPTS, Attempts

    total = 0
    failures: list[ProviderError] = []
    for index, endpoint in enumerate(chain):
        attempts = Attempts()
        token = CURRENT_ATTEMPTS.set(attempts)
        try:
            answer = await call(endpoint, attempts)
        except ProviderError as exc:
            failures.append(exc)
            continue
        finally:
            CURRENT_ATTEMPTS.reset(token)
            total += attempts.count
        return answer, index, total
    raise _chain_failed(failures, total)


async def _aclose(chain: list[Endpoint]) -> None:
    """Close the connection pool of every endpoint of ``chain``."""
    for endpoint in chain:
        await endpoint.aclose()


async def _until_closed(chain: list[Endpoint]) -> AsyncGenerator[None, None]:
    """Yield once; close ``chain``'s pools when closed.

    Started on a caller's loop, this is one of the loop's async generators, which
    the loop closes at shutdown (``loop.shutdown_asyncgens``, as ``asyncio.run``
    does before it closes the loop), so pools never outlive their loop unclosed.
    """
    try:
        yield
    finally:
        await _aclose(chain)


class _LoopPools:
    """One caller loop's endpoints (``chain``) and the generator that closes them."""

    def __init__(self, chain: list[Endpoint]) -> None:
        self.chain = chain
        self.closer = _until_closed(chain)

    async def close(self) -> None:
        """Close the pools (through the generator, which then is done)."""
        await self.closer.aclose()


def _run_on(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """Run ``callback`` on ``loop``: now if this thread runs it, else scheduled thread-safely."""
    if loop.is_closed():
        return
    if _running_loop() is loop:
        callback()
    else:
        loop.call_soon_threadsafe(callback)


def _close_on(loop: asyncio.AbstractEventLoop, pools: _LoopPools) -> None:
    """Close ``pools`` on ``loop``, the loop they were made on (see ``close``)."""
    if loop.is_closed() or not loop.is_running():
        return  # nothing can run there now: the loop closes them at its shutdown
    if _running_loop() is loop:
        _CLOSING.add(task := loop.create_task(pools.close()))
        task.add_done_callback(_CLOSING.discard)
    else:
        asyncio.run_coroutine_threadsafe(pools.close(), loop).result(timeout=10)


async def _within(future: concurrent.futures.Future[T], timeout: float = 10.0) -> T:
    """Await a future of another loop for at most ``timeout`` seconds.

    Raises:
        TimeoutError: it did not finish in time (as ``close`` raises then).
    """
    return await asyncio.wait_for(asyncio.wrap_future(future), timeout)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


#: Pool closings scheduled on a caller's loop by ``close`` called from that loop (kept
#: referenced until done, as asyncio asks).
_CLOSING: set[asyncio.Task[None]] = set()


def _chain_failed(failures: list[ProviderError], attempts: int) -> ProviderError:
    """The error for a row that every model of the chain failed: the last error's type."""
    from llmreg_litellm._rows import chain_failed

    return chain_failed(failures, attempts)
