"""The sync API of both providers' clients: their coroutines run on a loop thread.

:class:`LoopClient` is what :class:`~llmreg_litellm.client.OpenAICompatibleClient`
and :class:`~llmreg_litellm.sdk.LiteLLMClient` share: ``complete`` and ``batch``
submit the client's own ``_complete``/``_batch`` coroutines to its loop thread
(:class:`~llmreg_litellm._loop.LoopThread`) and wait; a call waiting when the
client closes ends with a typed :class:`~llmreg.errors.PredictionError`.
"""

from __future__ import annotations

import abc
import concurrent.futures
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, ClassVar, TypeVar

from llmreg.client import Client, Completion, RowResult
from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, PredictionError
from llmreg.schemas import Request
from llmreg_litellm._loop import LoopThread

T = TypeVar("T")


class LoopClient(Client):
    """A client whose calls are coroutines on a loop thread, with a sync API over them.

    Args:
        definition: the model definition.
        loop: the loop thread the sync API submits to (the client's own or a shared one).
    """

    #: The client's name in the error of a sync call made on its own loop.
    SYNC_NAME: ClassVar[str] = "llmreg"

    def __init__(self, definition: ModelDefinition, loop: LoopThread) -> None:
        super().__init__(definition)
        self._loop = loop
        self._closed = False
        self._lock = threading.Lock()  # orders submissions against close()
        self._pending: set[concurrent.futures.Future[Any]] = set()

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

    @abc.abstractmethod
    async def _complete(self, request: Request) -> Completion:
        """One request through the chain, on the loop that runs it."""

    @abc.abstractmethod
    async def _batch(self, requests: list[Request], concurrency: int) -> list[RowResult]:
        """Many requests, at most ``concurrency`` at once, on the loop that runs them."""

    def _concurrency(self, concurrency: int | None) -> int:
        value = self.definition.concurrency if concurrency is None else concurrency
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
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
                f"the sync API of the {self.SYNC_NAME} client was called from its own "
                "event loop; await abatch() there instead"
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


__all__ = ["LoopClient"]
