"""The in-process cache of loaded models, keyed by the *resolved* model version.

Two tables: loaded models (definition and client) by a key that names exactly
one immutable model (a registry version, a logged model, a run path, a local
folder), and alias -> version lookups, each kept for a short TTL so that a moved
alias is picked up on the next load after it expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

logger = logging.getLogger(__name__)


class Closeable(Protocol):
    """What the cache holds: a loaded model that releases its client on ``close()``."""

    def close(self) -> None:
        """Release the model's client (connections, loop thread, server lease)."""


T = TypeVar("T", bound=Closeable)


class ModelCache:
    """A thread-safe LRU of loaded models plus a TTL table of alias lookups.

    A key is loaded once even when many threads miss it at the same time: the
    first builds it, the others wait for that load. A model that is evicted or
    cleared is closed.

    Args:
        max_models: how many loaded models to keep.
    """

    def __init__(self, max_models: int = 32) -> None:
        self.max_models = max_models
        self._models: OrderedDict[Hashable, Any] = OrderedDict()
        self._loading: dict[Hashable, Future[Any]] = {}
        self._aliases: dict[Hashable, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def model(self, key: Hashable, load: Callable[[], T]) -> T:
        """Return the cached model for ``key``; on a miss, load it once (outside the lock).

        Threads that miss ``key`` while it is loading wait for that load and get its
        model, or its error.
        """
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]  # type: ignore[no-any-return]
            pending = self._loading.get(key)
            if pending is None:
                pending = self._loading[key] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            return pending.result()  # type: ignore[no-any-return]
        return self._load(key, load, pending)

    def _load(self, key: Hashable, load: Callable[[], T], pending: Future[Any]) -> T:
        try:
            loaded = load()
        except BaseException as exc:
            with self._lock:
                del self._loading[key]
            pending.set_exception(exc)
            raise
        with self._lock:
            del self._loading[key]
            self._models[key] = loaded
            evicted = []
            while len(self._models) > self.max_models:
                evicted.append(self._models.popitem(last=False)[1])
        pending.set_result(loaded)
        _close_all(evicted)
        return loaded

    def alias(self, key: Hashable, ttl_seconds: float, lookup: Callable[[], int]) -> int:
        """Return the version an alias points at, looked up again when the cached lookup is
        ``ttl_seconds`` old or older (so ``0`` always looks up)."""
        now = time.monotonic()
        with self._lock:
            hit = self._aliases.get(key)
            if hit is not None and now - hit[0] < ttl_seconds:
                return hit[1]
        version = lookup()
        with self._lock:
            self._aliases[key] = (time.monotonic(), version)
        return version

    def clear(self) -> None:
        """Forget every loaded model (closing each) and every alias lookup.

        A load in flight is not affected: its model is cached when it finishes.
        """
        with self._lock:
            dropped = list(self._models.values())
            self._models.clear()
            self._aliases.clear()
        _close_all(dropped)

    def __len__(self) -> int:
        return len(self._models)


def _close_all(models: list[Any]) -> None:
    """Close each dropped model; a failing close is logged, and the others still closed."""
    for model in models:
        try:
            model.close()
        except Exception:
            logger.warning("closing a dropped model's client failed", exc_info=True)


#: The process-wide cache that :class:`~llmreg_pyfunc.loader.CustomLoader` uses.
MODEL_CACHE = ModelCache()
