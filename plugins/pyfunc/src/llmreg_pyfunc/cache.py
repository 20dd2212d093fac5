"""The in-process cache of loaded models, keyed by the *resolved* model version.

Two tables: loaded models (definition and client) by a key that names exactly
one immutable model (a registry version, a logged model, a run path, a local
folder), and alias -> version lookups, each kept for a short TTL so that a moved
alias is picked up on the next load after it expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ModelCache:
    """A thread-safe LRU of loaded models plus a TTL table of alias lookups.

    Args:
        max_models: how many loaded models to keep.
    """

    def __init__(self, max_models: int = 32) -> None:
        self.max_models = max_models
        self._models: OrderedDict[Hashable, Any] = OrderedDict()
        self._aliases: dict[Hashable, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def model(self, key: Hashable, load: Callable[[], T]) -> T:
        """Return the cached model for ``key``, loading (outside the lock) on a miss."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]  # type: ignore[no-any-return]
        loaded = load()
        with self._lock:
            self._models[key] = loaded
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
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
        """Forget every loaded model and alias lookup."""
        with self._lock:
            self._models.clear()
            self._aliases.clear()

    def __len__(self) -> int:
        return len(self._models)


#: The process-wide cache that :class:`~llmreg_pyfunc.loader.CustomLoader` uses.
MODEL_CACHE = ModelCache()
