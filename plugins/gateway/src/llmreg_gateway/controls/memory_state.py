"""The controls' state in this process's memory: exact, lock-free, not shared.

One event loop runs every call to completion without awaiting, so each call is
atomic without a lock. ``--workers N`` and replicas need
:class:`~.redis_state.RedisState` instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from llmreg_gateway.controls.state import (
    ADD,
    GAUGE,
    HADD,
    RELEASE,
    WINDOW,
    Check,
    Op,
    StateError,
    Verdict,
    passes,
    window_key,
)


class MemoryState:
    """State in this process's memory: exact, lock-free (one event loop), not shared.

    Expired entries are dropped lazily and by a sweep every :attr:`SWEEP_EVERY` writes.

    Args:
        clock: the epoch-seconds clock (tests pass a fake one).
    """

    kind = "memory"
    #: Writes between two sweeps of expired entries.
    SWEEP_EVERY = 10_000

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, float] = {}
        self._expires: dict[str, float] = {}
        self._blobs: dict[str, tuple[bytes, float]] = {}
        self._gauges: dict[str, dict[str, float]] = {}
        self._hashes: dict[str, dict[str, float]] = {}
        self._tables: dict[str, dict[str, bytes]] = {}
        self._revisions: dict[str, int] = {}
        self._writes = 0

    def _value(self, key: str, now: float) -> float:
        expires = self._expires.get(key)
        if expires is not None and expires <= now:
            self._values.pop(key, None)
            del self._expires[key]
        return self._values.get(key, 0.0)

    def _leases(self, key: str, now: float) -> dict[str, float]:
        leases = self._gauges.setdefault(key, {})
        for lease in [k for k, until in leases.items() if until <= now]:
            del leases[lease]
        return leases

    def _add(self, key: str, amount: float, ttl: float, now: float) -> None:
        self._values[key] = self._value(key, now) + amount
        if ttl:
            self._expires[key] = now + ttl
        self._writes += 1
        if self._writes % self.SWEEP_EVERY == 0:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        for key in [k for k, until in self._expires.items() if until <= now]:
            self._values.pop(key, None)
            del self._expires[key]
        for key in [k for k, (_, until) in self._blobs.items() if until and until <= now]:
            del self._blobs[key]

    async def admit(self, checks: Sequence[Check], lease: str) -> Verdict:
        """See :meth:`StateBackend.admit`."""
        now = self._clock()
        values: list[float] = []
        keys: list[str] = []
        for index, check in enumerate(checks):
            if check.kind == WINDOW:
                key = window_key(check.key, check.param, now)
                value = self._value(key, now)
            elif check.kind == GAUGE:
                key = check.key
                value = float(len(self._leases(key, now)))
            else:
                key = check.key
                value = self._value(key, now)
            values.append(value)
            if not passes(check, value):
                return Verdict(now, index, tuple(values))
            keys.append(key)
        for check, key in zip(checks, keys, strict=True):
            if check.kind == WINDOW:
                self._add(key, check.amount, 2 * check.param, now)
            elif check.kind == GAUGE:
                self._gauges[key][lease] = now + check.param
        return Verdict(now, -1, tuple(values))

    async def apply(self, ops: Sequence[Op]) -> None:
        """See :meth:`StateBackend.apply`."""
        now = self._clock()
        for op in ops:
            if op.kind == ADD:
                self._add(op.key, op.amount, op.ttl, now)
            elif op.kind == HADD:
                fields = self._hashes.setdefault(op.key, {})
                fields[op.field] = fields.get(op.field, 0.0) + op.amount
            elif op.kind == RELEASE:
                self._gauges.get(op.key, {}).pop(op.field, None)
            else:
                raise StateError(f"unknown state op {op.kind!r}")

    async def read(self, keys: Sequence[str]) -> list[float]:
        """See :meth:`StateBackend.read`."""
        now = self._clock()
        return [self._value(key, now) for key in keys]

    async def get(self, key: str) -> bytes | None:
        """See :meth:`StateBackend.get`."""
        found = self._blobs.get(key)
        if found is None:
            return None
        if found[1] and found[1] <= self._clock():
            del self._blobs[key]
            return None
        return found[0]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`StateBackend.set`."""
        now = self._clock()
        self._blobs[key] = (value, now + ttl if ttl else 0.0)
        self._writes += 1
        if self._writes % self.SWEEP_EVERY == 0:
            self._sweep(now)

    async def table_put(self, table: str, field: str, value: bytes) -> int:
        """See :meth:`StateBackend.table_put`."""
        self._tables.setdefault(table, {})[field] = value
        self._revisions[table] = self._revisions.get(table, 0) + 1
        return self._revisions[table]

    async def table_all(self, table: str) -> tuple[int, dict[str, bytes]]:
        """See :meth:`StateBackend.table_all`."""
        return self._revisions.get(table, 0), dict(self._tables.get(table, {}))

    async def revision(self, table: str) -> int:
        """See :meth:`StateBackend.revision`."""
        return self._revisions.get(table, 0)

    async def hash_all(self, key: str) -> dict[str, float]:
        """See :meth:`StateBackend.hash_all`."""
        return dict(self._hashes.get(key, {}))

    async def ping(self) -> None:
        """See :meth:`StateBackend.ping` (memory always answers)."""

    async def close(self) -> None:
        """See :meth:`StateBackend.close` (nothing to release)."""


__all__ = ["MemoryState"]
