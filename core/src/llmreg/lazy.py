"""Clients built at their first call, for the CLI's reading commands (``show``, ``diff``),
which load models without resolving the provider's key."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from llmreg.client import Client, Completion, RowResult, StreamChunk
from llmreg.errors import PredictionError
from llmreg.schemas import Request

if TYPE_CHECKING:
    from llmreg.definition import ModelDefinition
    from llmreg.manager import PluginManager


#: Set (by :func:`deferred_clients`) while clients are to be built at first use.
_DEFERRED: contextvars.ContextVar[bool] = contextvars.ContextVar("llmreg_deferred", default=False)


@contextlib.contextmanager
def deferred_clients() -> Iterator[None]:
    """Within this block, :func:`client_for` (and so ``ClientAdapter.build`` and the
    loaders using it) builds no client: the key is resolved at the first prediction."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


class LazyClient(Client):
    """A :class:`~llmreg.client.Client` that builds the real one (``factory()``, resolving
    its keys) at its first call."""

    def __init__(self, factory: Callable[[], Client], definition: ModelDefinition) -> None:
        super().__init__(definition)
        self._factory: Callable[[], Client] | None = factory
        self._client: Client | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the real client has been built."""
        return self._client is not None

    def real(self) -> Client:
        """The real client, built on first use (once, even from several threads)."""
        with self._lock:
            if self._client is None:
                if self._factory is None:
                    raise PredictionError("the model's client is closed; load the model again")
                self._client = self._factory()
            return self._client

    def complete(self, request: Request) -> Completion:
        """Answer one request through the real client."""
        return self.real().complete(request)

    def batch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Answer a batch through the real client."""
        return self.real().batch(requests, concurrency=concurrency)

    async def abatch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Answer a batch through the real client, async."""
        return await self.real().abatch(requests, concurrency=concurrency)

    async def astream(self, request: Request) -> AsyncIterator[StreamChunk]:
        """Stream one request through the real client (its own streaming, if any)."""
        async for chunk in self.real().astream(request):
            yield chunk

    async def achat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Pass a chat body through the real client (see :meth:`Client.achat`)."""
        return await self.real().achat(body)

    async def achat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream a passed-through chat body through the real client."""
        async for chunk in self.real().achat_stream(body):
            yield chunk

    def _take(self) -> Client | None:
        with self._lock:
            client, self._client, self._factory = self._client, None, None
        return client

    def close(self) -> None:
        """Close the real client if it was built; later calls fail. Safe twice."""
        if (client := self._take()) is not None:
            client.close()

    async def aclose(self) -> None:
        """Async form of :meth:`close`."""
        if (client := self._take()) is not None:
            await client.aclose()


def client_for(manager: PluginManager, definition: ModelDefinition) -> Client:
    """``manager.client(definition)``, or a :class:`LazyClient` inside :func:`deferred_clients`
    (what loaders call instead of ``manager.client``)."""
    if _DEFERRED.get():
        manager.client_factory(definition.provider)  # an unknown provider still fails now
        return LazyClient(lambda: manager.client(definition), definition)
    return manager.client(definition)


__all__ = ["LazyClient", "client_for", "deferred_clients"]
