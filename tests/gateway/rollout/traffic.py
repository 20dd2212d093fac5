"""Simulated traffic for the controller tests: requests routed by the real router, with
outcomes drawn per arm, recorded into a stats sink as a gateway replica would."""

from __future__ import annotations

from llmreg_gateway.rollout.routing import RolloutRouter
from llmreg_gateway.rollout.state import Rollout
from llmreg_gateway.rollout.stats import StatsSink


def send(
    sink: StatsSink,
    rollout: Rollout,
    requests: int,
    *,
    canary_error_every: int = 0,
    canary_ms: float = 100.0,
    stable_ms: float = 100.0,
    offset: int = 0,
) -> dict[str, int]:
    """Route ``requests`` keyed requests through ``rollout``'s split and record them.

    The canary fails one request in ``canary_error_every`` (0: never). Returns the
    number of requests each arm got.
    """
    router = RolloutRouter()
    router.update([rollout])
    got = {"stable": 0, "canary": 0}
    for i in range(offset, offset + requests):
        choice = router.route(rollout.name, rollout.alias, f"user-{i}")
        assert choice is not None
        got[choice.arm] += 1
        canary = choice.arm == "canary"
        ok = not (canary and canary_error_every and got["canary"] % canary_error_every == 0)
        sink.record(
            choice.rollout_id,
            choice.step,
            choice.arm,
            ok=ok,
            latency_ms=canary_ms if canary else stable_ms,
            tokens=20.0,
            cost=0.0001,
        )
    return got
