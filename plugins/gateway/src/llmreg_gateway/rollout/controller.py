"""The controller: judges each step's window, and steps, promotes or rolls back.

One :meth:`Controller.tick` reads the rollout from the registry, takes or renews
the lease (only the holder acts), finishes any side effect a killed
predecessor left pending, then decides:

- a guard failed (once the minimum sample is in): **rollback**: the canary's
  weight drops to 0, the alias stays, the history says which guard with its numbers
  (a paused rollout still splits traffic, so it is still judged, but not advanced);
- the step's interval has not passed: **wait**;
- the interval passed without the minimum sample: **hold** (as Flagger, no data
  is no promotion);
- the guards pass and this was the last (100%) step: **promote**: the alias moves
  to the candidate and the history names the evidence;
- else **step**: the next weight, its window starting now.

Every decision is written to the registry (generation + 1) before any side
effect, and each side effect is idempotent, so a controller killed at any
point and restarted neither skips nor doubles a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from llmreg.errors import StoreUnavailableError
from llmreg_gateway.rollout.errors import RolloutConflictError
from llmreg_gateway.rollout.guards import check
from llmreg_gateway.rollout.lease import Lease

if TYPE_CHECKING:
    from collections.abc import Callable

    from llmreg_gateway.rollout.state import Clock, Rollout, RolloutStore
    from llmreg_gateway.rollout.stats import StatsSink

Action = Literal["idle", "standby", "wait", "hold", "step", "promote", "rollback", "error"]


@dataclass(frozen=True)
class Decision:
    """What one tick did.

    Attributes:
        action: idle (nothing running), standby (another controller holds the lease),
            wait, hold, step, promote, rollback, or error (the registry failed this tick;
            :meth:`Controller.run` tries again at the next one).
        detail: why, with the numbers.
        rollout: the rollout after the tick, where there is one.
    """

    action: Action
    detail: str
    rollout: Rollout | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as JSON-ready values."""
        return {
            "action": self.action,
            "detail": self.detail,
            "rollout": self.rollout.to_dict() if self.rollout is not None else None,
        }


class Controller:
    """Drives the rollout of ``name@alias``; only the lease holder acts.

    Args:
        store: the rollouts in the registry.
        sink: where the per-arm windows are read.
        name: the registered model.
        alias: the alias under rollout.
        clock: the time source (tests inject one).
        lease: the lease to hold (default: a new contender with the defaults of :class:`Lease`).
    """

    def __init__(
        self,
        store: RolloutStore,
        sink: StatsSink,
        name: str,
        alias: str,
        clock: Clock,
        *,
        lease: Lease | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        self.name = name
        self.alias = alias
        self.clock = clock
        self.lease = lease or Lease(store.register, name, alias, clock)

    def tick(self) -> Decision:
        """Judge the rollout once and act on it (see the module's description)."""
        rollout = self.store.load(self.name, self.alias)
        if rollout is None or (not rollout.active and not rollout.pending):
            return Decision("idle", f"no running rollout of {self.name}@{self.alias}", rollout)
        if not self.lease.acquire():
            return Decision("standby", "another controller holds the lease", rollout)
        if rollout.pending:
            rollout = self.store.finish(rollout)
        if not rollout.active:
            return Decision("idle", f"the rollout is {rollout.status}", rollout)
        return self._judge(rollout)

    def _judge(self, rollout: Rollout) -> Decision:
        """Roll back on a failed guard (running or paused); step or promote only when running."""
        now = self.clock.now()
        window = self.sink.window(rollout.id, rollout.step)
        self.sink.publish(rollout.id, rollout.step, window)
        weight = rollout.weight
        where = f"step {rollout.step + 1}/{len(rollout.steps)} ({weight}%)"
        verdict = check(rollout.guards, window["stable"], window["canary"], relative=weight < 100)
        if verdict.outcome == "fail":
            reason = (
                f"rollout rolled back: version {rollout.to_version} failed {verdict.failed} at "
                f"{where}; @{rollout.alias} stays on {rollout.from_version}: {verdict.evidence}"
            )
            done = self.store.transition(rollout, status="rolled-back", reason=reason)
            return Decision("rollback", reason, done)
        if rollout.status == "paused":
            return Decision("hold", f"{where}: paused; {verdict.evidence}", rollout)
        left = rollout.step_started_at + rollout.interval_s - now
        if left > 0:
            return Decision("wait", f"{where}: {left:.0f} s left; {verdict.evidence}", rollout)
        if verdict.outcome == "wait":
            return Decision("hold", f"{where}: {verdict.evidence}", rollout)
        if rollout.step == len(rollout.steps) - 1:
            reason = (
                f"rollout promoted version {rollout.to_version} to @{rollout.alias} (was "
                f"{rollout.from_version}) after {len(rollout.steps)} steps, guards passed: "
                f"{verdict.evidence}"
            )
            done = self.store.transition(rollout, status="promoted", reason=reason)
            return Decision("promote", reason, done)
        following = rollout.steps[rollout.step + 1]
        reason = (
            f"rollout step {rollout.step + 2}/{len(rollout.steps)}: version "
            f"{rollout.to_version} to {following}% (passed {where}: {verdict.evidence})"
        )
        done = self.store.transition(
            rollout, step=rollout.step + 1, step_started_at=now, reason=reason
        )
        return Decision("step", reason, done)

    def run(
        self,
        *,
        poll: float = 5.0,
        until: Callable[[Decision], bool] | None = None,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> Decision:
        """Tick every ``poll`` seconds until the rollout ends (or ``until`` says stop).

        Returns the last decision. The lease is released on the way out.
        """
        try:
            while True:
                try:
                    decision = self.tick()
                except (StoreUnavailableError, RolloutConflictError) as exc:
                    # a registry outage or a concurrent edit: judge again next time
                    decision = Decision("error", f"{type(exc).__name__}: {exc}")
                    if on_decision is not None:
                        on_decision(decision)
                    self.clock.sleep(poll)
                    continue
                if on_decision is not None:
                    on_decision(decision)
                gone = decision.rollout is None
                ended = not gone and decision.rollout is not None and not decision.rollout.active
                if gone or (ended and decision.action != "standby") or (until and until(decision)):
                    return decision
                self.clock.sleep(poll)
        finally:
            self.lease.release()


__all__ = ["Action", "Controller", "Decision"]
