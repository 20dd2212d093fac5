"""Where the gateway's controls keep their state: one process's memory, or a shared Redis.

A :class:`StateBackend` offers the few operations the controls need, each atomic:

* :meth:`~StateBackend.admit`: check a list of :class:`Check` (windowed counters,
  concurrency gauges, read-only ceilings) and, only if every one passes, apply them
  all. One call, one Redis round trip (a Lua script).
* :meth:`~StateBackend.apply`: a batch of :class:`Op` (add to a counter, add to a hash
  field, release a gauge lease) after the response, in one round trip.
* :meth:`~StateBackend.get` / :meth:`~StateBackend.set`: bytes with a TTL (the cache).
* A *table* (field -> bytes) with a revision number that every write bumps, so a
  replica sees a change by reading one integer.

:class:`~.memory_state.MemoryState` serves one process; :class:`~.redis_state.RedisState` serves
replicas and ``--workers N``. :func:`state_from_url` picks one from a URL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

from llmreg.errors import LlmregError

#: :class:`Check` kinds: a fixed-window counter, a concurrency gauge, a read-only ceiling.
WINDOW, GAUGE, CEILING = "w", "g", "c"
#: :class:`Op` kinds: add to a counter, add to a hash field, release a gauge lease.
ADD, HADD, RELEASE = "add", "hadd", "release"


class StateError(LlmregError):
    """The state backend answered something unexpected (a bug, or a foreign Redis)."""


class StateUnavailableError(StateError):
    """The state backend cannot be reached (Redis down, refused, or timed out).

    The controls follow their documented policy on it: budgets and limits fail
    closed (HTTP 503), the cache fails open (a miss), and ``/ready`` says so.
    """


class Check(NamedTuple):
    """One condition of an admission.

    Attributes:
        kind: :data:`WINDOW` (counter of the current ``param``-second window; passes if
            ``value + amount <= limit``), :data:`GAUGE` (leases held, each expiring
            ``param`` seconds after it was taken; passes if ``leases + 1 <= limit``)
            or :data:`CEILING` (a plain counter; passes if ``value < limit``; not changed).
        key: the state key (a window's key gets ``:<window index>`` appended).
        amount: what the check adds when all pass (ignored for gauges and ceilings).
        limit: the bound.
        param: the window length or the lease TTL, in seconds (0 for a ceiling).
    """

    kind: str
    key: str
    amount: float
    limit: float
    param: float


class Verdict(NamedTuple):
    """The answer of :meth:`StateBackend.admit`.

    Attributes:
        now: the backend's clock (epoch seconds) at the check; window indexes follow it.
        failed: the index of the first check that did not pass, or -1 if all passed
            (and were applied).
        values: each check's value before this admission (up to ``failed``).
    """

    now: float
    failed: int
    values: tuple[float, ...]


class Op(NamedTuple):
    """One write of :meth:`StateBackend.apply`.

    Attributes:
        kind: :data:`ADD` (``key += amount``), :data:`HADD` (``key[field] += amount``)
            or :data:`RELEASE` (drop lease ``field`` of gauge ``key``).
        key: the state key.
        amount: the increment (may be negative).
        ttl: seconds the key lives after this write (0: leave its expiry alone).
        field: the hash field or the lease id.
    """

    kind: str
    key: str
    amount: float = 0.0
    ttl: float = 0.0
    field: str = ""


def window_key(key: str, window: float, now: float) -> str:
    """The key of the counter of ``key``'s ``window``-second window holding ``now``."""
    return f"{key}:{math.floor(now / window)}"  # as ADMIT_SCRIPT computes it, to the bit


def passes(check: Check, value: float) -> bool:
    """Whether ``check`` passes with its current ``value``."""
    if check.kind == CEILING:
        return value < check.limit
    if check.kind == GAUGE:
        return value + 1 <= check.limit
    return value + check.amount <= check.limit


class StateBackend(Protocol):
    """The operations the controls need from their state; every one is atomic."""

    #: ``memory`` or ``redis``, for ``/ready`` and logs.
    kind: str

    async def admit(self, checks: Sequence[Check], lease: str) -> Verdict:
        """Check every one of ``checks``; if all pass, apply all (gauges take ``lease``)."""
        ...

    async def apply(self, ops: Sequence[Op]) -> None:
        """Apply ``ops`` (in one round trip)."""
        ...

    async def read(self, keys: Sequence[str]) -> list[float]:
        """The values of the counters ``keys`` (0 for a missing one)."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The bytes stored at ``key``, or ``None``."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (0: no expiry)."""
        ...

    async def table_put(self, table: str, field: str, value: bytes) -> int:
        """Set ``table[field]`` and bump the table's revision; return the new revision."""
        ...

    async def table_all(self, table: str) -> tuple[int, dict[str, bytes]]:
        """The table's revision and its contents, read together."""
        ...

    async def revision(self, table: str) -> int:
        """The table's revision (0 for a table never written)."""
        ...

    async def hash_all(self, key: str) -> dict[str, float]:
        """Every field of the counter hash ``key`` (written by :data:`HADD` ops)."""
        ...

    async def ping(self) -> None:
        """Check that the backend answers.

        Raises:
            StateUnavailableError: it does not.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


#: The URL schemes :func:`state_from_url` takes.
SCHEMES = ("memory", "redis", "rediss", "unix")


def redacted(url: str) -> str:
    """``url`` without its user and password, for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


__all__ = [
    "ADD",
    "CEILING",
    "GAUGE",
    "HADD",
    "RELEASE",
    "SCHEMES",
    "WINDOW",
    "Check",
    "Op",
    "StateBackend",
    "StateError",
    "StateUnavailableError",
    "Verdict",
    "passes",
    "redacted",
    "window_key",
]
