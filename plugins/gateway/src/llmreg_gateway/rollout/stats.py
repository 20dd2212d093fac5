"""Per-arm request statistics: :class:`ArmStats`, the :class:`StatsSink` the gateway feeds.

Each gateway replica calls :meth:`StatsSink.record` once per answered request
(its rollout, step, arm, outcome, latency, tokens, cost); the controller reads
one step's window per arm with :meth:`StatsSink.window`. Latencies go into fixed
log-spaced buckets, so a record costs one bisect and a few additions, windows of
several replicas merge by adding counts, and p95 is read from the buckets
(within one bucket's width, about 12%).
"""

from __future__ import annotations

import abc
import bisect
import threading
from dataclasses import dataclass, field
from typing import Literal

#: The two arms: the version the alias held (stable) and the candidate (canary).
Arm = Literal["stable", "canary"]
ARMS: tuple[Arm, Arm] = ("stable", "canary")

#: Upper bounds of the latency buckets, in ms: 1 ms to about 10 min, 12% apart.
BUCKETS_MS: tuple[float, ...] = tuple(round(1.12**i, 3) for i in range(0, 118))


@dataclass(frozen=True)
class ArmStats:
    """What one arm answered in one window.

    Attributes:
        requests: requests answered (successes and errors).
        errors: requests that failed (an upstream error, a 5xx).
        tokens: total tokens of the answers.
        cost: total cost of the answers (in the unit the gateway reports).
        latency_counts: requests per latency bucket (:data:`BUCKETS_MS`, plus one overflow).
    """

    requests: int = 0
    errors: int = 0
    tokens: float = 0.0
    cost: float = 0.0
    latency_counts: tuple[int, ...] = field(default=())

    @property
    def error_rate(self) -> float:
        """Errors over requests (0 with no requests)."""
        return self.errors / self.requests if self.requests else 0.0

    @property
    def tokens_per_request(self) -> float:
        """Mean tokens per request (0 with no requests)."""
        return self.tokens / self.requests if self.requests else 0.0

    @property
    def cost_per_request(self) -> float:
        """Mean cost per request (0 with no requests)."""
        return self.cost / self.requests if self.requests else 0.0

    def quantile_ms(self, q: float) -> float:
        """The latency under which a share ``q`` of requests fell: the bucket's upper bound."""
        total = sum(self.latency_counts)
        if not total:
            return 0.0
        rank = q * total
        seen = 0
        for index, count in enumerate(self.latency_counts):
            seen += count
            if seen >= rank:
                return BUCKETS_MS[min(index, len(BUCKETS_MS) - 1)]
        return BUCKETS_MS[-1]

    @property
    def p95_ms(self) -> float:
        """The 95th percentile latency, in ms (0 with no requests)."""
        return self.quantile_ms(0.95)

    def merged(self, other: ArmStats) -> ArmStats:
        """Return the sum of two windows (replicas, or flushes)."""
        size = max(len(self.latency_counts), len(other.latency_counts))
        mine = self.latency_counts + (0,) * (size - len(self.latency_counts))
        theirs = other.latency_counts + (0,) * (size - len(other.latency_counts))
        return ArmStats(
            self.requests + other.requests,
            self.errors + other.errors,
            self.tokens + other.tokens,
            self.cost + other.cost,
            tuple(a + b for a, b in zip(mine, theirs, strict=True)),
        )

    def to_dict(self) -> dict[str, object]:
        """Return the counts and the derived numbers (for ``--json`` and MLflow)."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p95_ms": self.p95_ms,
            "tokens_per_request": self.tokens_per_request,
            "cost_per_request": self.cost_per_request,
        }


class _Accumulator:
    """The mutable counts behind one (rollout, step, arm): cheap to add to."""

    __slots__ = ("cost", "errors", "latency", "requests", "tokens")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.tokens = 0.0
        self.cost = 0.0
        self.latency = [0] * (len(BUCKETS_MS) + 1)

    def frozen(self) -> ArmStats:
        """Return the counts so far as an immutable :class:`ArmStats`."""
        return ArmStats(self.requests, self.errors, self.tokens, self.cost, tuple(self.latency))


class StatsSink(abc.ABC):
    """Where the gateway reports each request's outcome, per rollout, step and arm."""

    @abc.abstractmethod
    def record(
        self,
        rollout_id: str,
        step: int,
        arm: Arm,
        *,
        ok: bool,
        latency_ms: float,
        tokens: float = 0.0,
        cost: float = 0.0,
    ) -> None:
        """Count one answered request. Called on the request path: must be cheap."""

    @abc.abstractmethod
    def window(self, rollout_id: str, step: int) -> dict[Arm, ArmStats]:
        """Return what each arm answered during ``step`` of the rollout (all replicas)."""

    def flush(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Push what was recorded here to where the controller reads it (a no-op here)."""

    def publish(  # noqa: B027 - optional hook with a no-op default
        self, rollout_id: str, step: int, window: dict[Arm, ArmStats]
    ) -> None:
        """Keep the controller's view of a step for people (MLflow charts); a no-op here."""


class InProcessSink(StatsSink):
    """Keeps the counts in this process: for one replica, for the controller in the same
    process, and as the buffer of :class:`~llmreg_gateway.rollout.mlflow_stats.MlflowRunSink`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int, Arm], _Accumulator] = {}

    def record(
        self,
        rollout_id: str,
        step: int,
        arm: Arm,
        *,
        ok: bool,
        latency_ms: float,
        tokens: float = 0.0,
        cost: float = 0.0,
    ) -> None:
        """Count one answered request (a dict lookup, a bisect and four additions)."""
        bucket = bisect.bisect_left(BUCKETS_MS, latency_ms)
        with self._lock:
            acc = self._counts.get((rollout_id, step, arm))
            if acc is None:
                acc = self._counts[(rollout_id, step, arm)] = _Accumulator()
            acc.requests += 1
            acc.errors += not ok
            acc.tokens += tokens
            acc.cost += cost
            acc.latency[bucket] += 1

    def window(self, rollout_id: str, step: int) -> dict[Arm, ArmStats]:
        """Return this process's counts of ``step``, per arm (empty arms included)."""
        with self._lock:
            return {
                arm: (
                    acc.frozen()
                    if (acc := self._counts.get((rollout_id, step, arm)))
                    else ArmStats()
                )
                for arm in ARMS
            }

    def recorded(self) -> list[tuple[str, int]]:
        """Return the (rollout id, step) pairs that have counts."""
        with self._lock:
            return sorted({(rid, step) for rid, step, _ in self._counts})


__all__ = ["ARMS", "BUCKETS_MS", "Arm", "ArmStats", "InProcessSink", "StatsSink"]
