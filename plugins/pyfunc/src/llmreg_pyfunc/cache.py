"""The in-process cache of loaded models, keyed by the *resolved* model version, with leases.

Two tables: loaded models (definition and client) by a key that names exactly
one immutable model (a registry version, a logged model, a run path, a local
folder), and alias -> version lookups, each kept for a short TTL so that a moved
alias is picked up on the next load after it expires.

Every adapter the loader hands out holds a :class:`Lease` on its cached model. A
model is closed (its client released) only when it has left the cache (evicted
or cleared) *and* its last lease is released: a host that keeps more models
alive than the cache holds keeps predicting through every one of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from llmreg.client import Client
    from llmreg.definition import ModelDefinition

logger = logging.getLogger(__name__)


class Closeable(Protocol):
    """What the cache holds: a loaded model that releases its client on ``close()``."""

    def close(self) -> None:
        """Release the model's client (connections, loop thread, server lease)."""


T = TypeVar("T", bound=Closeable)


@dataclass(frozen=True)
class LoadedModel:
    """One loaded model, as cached: its definition, its client and what MLflow knows of it."""

    definition: ModelDefinition
    client: Client
    info: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Close the client; the cache calls this once the model is dropped and unleased."""
        self.client.close()


class _Entry(Generic[T]):
    """One cached model, how many leases it has, and whether the cache still holds it."""

    __slots__ = ("cached", "closed", "leases", "model")

    def __init__(self, model: T) -> None:
        self.model = model
        self.leases = 0
        self.cached = True
        self.closed = False


class Lease(Generic[T]):
    """One adapter's hold on a cached model. :meth:`release` it when the adapter closes."""

    def __init__(self, cache: ModelCache[T], entry: _Entry[T]) -> None:
        self._cache = cache
        self._entry = entry
        self._released = False

    @property
    def model(self) -> T:
        """The leased model."""
        return self._entry.model

    @property
    def released(self) -> bool:
        """Whether :meth:`release` was called."""
        return self._released

    def release(self) -> None:
        """Give the hold back; a model that left the cache is closed with its last lease.

        Safe to call twice.
        """
        with self._cache.lock:
            if self._released:
                return
            self._released = True
        self._cache._release(self._entry)


class ModelCache(Generic[T]):
    """A thread-safe LRU of loaded models, leased to adapters, plus a TTL table of alias lookups.

    A key is loaded once even when many threads miss it at the same time: the
    first builds it, the others wait for that load. A model that is evicted or
    cleared is closed once no lease on it is left.

    Args:
        max_models: how many loaded models to keep.
    """

    def __init__(self, max_models: int = 32) -> None:
        self.max_models = max_models
        self.lock = threading.Lock()
        self._models: OrderedDict[Hashable, _Entry[T]] = OrderedDict()
        self._loading: dict[Hashable, Future[_Entry[T]]] = {}
        self._aliases: dict[Hashable, tuple[float, int]] = {}

    def lease(self, key: Hashable, load: Callable[[], T]) -> Lease[T]:
        """Return a lease on the cached model for ``key``; on a miss, load it once (outside
        the lock).

        Threads that miss ``key`` while it is loading wait for that load and lease its
        model, or get its error.
        """
        while True:
            with self.lock:
                entry = self._models.get(key)
                if entry is not None:
                    self._models.move_to_end(key)
                    entry.leases += 1
                    return Lease(self, entry)
                pending = self._loading.get(key)
                owner = pending is None
                if pending is None:
                    pending = self._loading[key] = Future()
            if owner:
                return self._load(key, load, pending)
            entry = pending.result()
            with self.lock:
                if not entry.closed:  # else it was evicted and closed meanwhile: load again
                    entry.leases += 1
                    return Lease(self, entry)

    def _load(self, key: Hashable, load: Callable[[], T], pending: Future[_Entry[T]]) -> Lease[T]:
        try:
            entry = _Entry(load())
        except BaseException as exc:
            with self.lock:
                del self._loading[key]
            pending.set_exception(exc)
            raise
        with self.lock:
            del self._loading[key]
            entry.leases += 1
            self._models[key] = entry
            dropped = []
            while len(self._models) > self.max_models:
                dropped.append(self._models.popitem(last=False)[1])
            to_close = self._drop(dropped)
        pending.set_result(entry)
        _close_all(to_close)
        return Lease(self, entry)

    def _drop(self, entries: list[_Entry[T]]) -> list[T]:
        """Mark entries as out of the cache; return the models to close now (no lease left).

        Called with the lock held.
        """
        to_close = []
        for entry in entries:
            entry.cached = False
            if entry.leases == 0 and not entry.closed:
                entry.closed = True
                to_close.append(entry.model)
        return to_close

    def _release(self, entry: _Entry[T]) -> None:
        with self.lock:
            entry.leases -= 1
            close = entry.leases == 0 and not entry.cached and not entry.closed
            if close:
                entry.closed = True
        if close:
            _close_all([entry.model])

    def alias(self, key: Hashable, ttl_seconds: float, lookup: Callable[[], int]) -> int:
        """Return the version an alias points at, looked up again when the cached lookup is
        ``ttl_seconds`` old or older (so ``0`` always looks up)."""
        now = time.monotonic()
        with self.lock:
            hit = self._aliases.get(key)
            if hit is not None and now - hit[0] < ttl_seconds:
                return hit[1]
        version = lookup()
        with self.lock:
            self._aliases[key] = (time.monotonic(), version)
        return version

    def clear(self) -> None:
        """Forget every loaded model and every alias lookup.

        Each model is closed now if no adapter holds it, else when its last adapter
        closes. A load in flight is not affected: its model is cached when it finishes.
        """
        with self.lock:
            dropped = list(self._models.values())
            self._models.clear()
            self._aliases.clear()
            to_close = self._drop(dropped)
        _close_all(to_close)

    def leases(self, key: Hashable) -> int:
        """How many leases the cached model of ``key`` has (0 when it is not cached)."""
        with self.lock:
            entry = self._models.get(key)
            return entry.leases if entry is not None else 0

    def __len__(self) -> int:
        return len(self._models)


def _close_all(models: list[T]) -> None:
    """Close each dropped model; a failing close is logged, and the others still closed."""
    for model in models:
        try:
            model.close()
        except Exception:
            logger.warning("closing a dropped model's client failed", exc_info=True)


#: The process-wide cache that :class:`~llmreg_pyfunc.loader.CustomLoader` uses.
MODEL_CACHE: ModelCache[LoadedModel] = ModelCache()
