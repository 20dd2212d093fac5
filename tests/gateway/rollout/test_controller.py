"""The controller: rollback of a failing candidate, promotion of a good one, restarts."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from click.testing import CliRunner
from gateway.rollout.traffic import send

from llmreg.errors import StoreUnavailableError
from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.controller import Controller
from llmreg_gateway.rollout.lease import Lease
from llmreg_gateway.rollout.spec import Guards
from llmreg_gateway.rollout.state import Rollout, RolloutStore
from llmreg_gateway.rollout.stats import InProcessSink

GUARDS = Guards(max_error_rate=0.02, max_p95_ms=500.0, min_requests=100)


def _start(rollouts: RolloutStore, clock, name: str) -> Rollout:
    return operations.start(
        rollouts,
        clock,
        name,
        to="2",
        alias="champion",
        steps=(5, 25, 50, 100),
        interval_s=600.0,
        sticky_by="key",
        guards=GUARDS,
    )


def _controller(rollouts, sink, name, clock, holder="c1") -> Controller:
    lease = Lease(rollouts.register, name, "champion", clock, holder=holder, settle=0.5)
    return Controller(rollouts, sink, name, "champion", clock, lease=lease)


def _history(name: str) -> list[dict]:
    from llmreg.cli.app import cli

    done = CliRunner().invoke(cli, ["history", name, "--json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)["moves"]


def test_failing_candidate_is_rolled_back(rollouts, register, clock, name) -> None:
    sink = InProcessSink()
    rollout = _start(rollouts, clock, name)
    controller = _controller(rollouts, sink, name, clock)
    # too few canary requests yet: no decision, even with errors
    send(sink, rollout, 400, canary_error_every=20)
    assert controller.tick().action == "wait"
    # 5% of the canary's requests fail: rolled back as soon as the sample is in
    send(sink, rollout, 3000, canary_error_every=20, offset=400)
    decision = controller.tick()
    assert decision.action == "rollback"
    found = re.search(r"error_rate (\d+\.\d\d)% > 2\.00%", decision.detail)
    assert found and 4.0 <= float(found.group(1)) <= 6.0, decision.detail
    after = rollouts.get(name, "champion")
    assert after.status == "rolled-back" and after.weight == 0 and after.pending == ()
    assert [r.aliases for r in register.versions(name)][:2] == [("champion",), ()]
    moves = _history(name)
    assert moves[-1]["action"] == "note" and moves[-1]["version"] == 1
    assert "rolled back" in moves[-1]["note"] and "failed error_rate" in moves[-1]["note"]
    assert controller.tick().action == "idle"


def test_good_candidate_is_promoted_step_by_step(rollouts, register, clock, name) -> None:
    sink = InProcessSink()
    rollout = _start(rollouts, clock, name)
    controller = _controller(rollouts, sink, name, clock)
    weights = []
    for _ in range(4):
        current = rollouts.get(name, "champion")
        weights.append(current.weight)
        send(sink, current, 4000)
        assert controller.tick().action == "wait"  # the interval has not passed
        clock.advance(601)
        decision = controller.tick()
    assert weights == [5, 25, 50, 100]
    assert decision.action == "promote"
    assert "promoted version 2 to @champion (was 1)" in decision.detail
    assert "errors 0.00%" in decision.detail
    assert [r.aliases for r in register.versions(name)][:2] == [(), ("champion",)]
    moves = _history(name)
    notes = [m["note"] for m in moves if m["action"] == "note"]
    assert sum("rollout step" in n for n in notes) == 3
    assert moves[-2]["action"] == "promote" and moves[-2]["version"] == 2
    assert "promoted version 2" in moves[-1]["note"]
    assert rollout.id in moves[-1]["note"]


def test_no_sample_no_step(rollouts, clock, name) -> None:
    sink = InProcessSink()
    _start(rollouts, clock, name)
    controller = _controller(rollouts, sink, name, clock)
    clock.advance(601)
    decision = controller.tick()
    assert decision.action == "hold" and "needs 100 canary requests" in decision.detail
    assert rollouts.get(name, "champion").step == 0


def test_paused_rollout_does_not_step(rollouts, clock, name) -> None:
    sink = InProcessSink()
    rollout = _start(rollouts, clock, name)
    controller = _controller(rollouts, sink, name, clock)
    send(sink, rollout, 4000)
    operations.pause(rollouts, name, "champion")
    clock.advance(601)
    held = controller.tick()
    assert held.action == "hold" and "paused" in held.detail
    assert rollouts.get(name, "champion").step == 0
    resumed = operations.resume(rollouts, clock, name, "champion")
    assert resumed.step_started_at == clock.now()
    clock.advance(601)
    assert controller.tick().action == "step"


class _KilledAfterWrite(RolloutStore):
    """A store whose process dies right after the decision is written (before its history
    entry, and before the pending mark is cleared)."""

    def finish(self, rollout: Rollout) -> Rollout:
        if rollout.pending:
            raise KeyboardInterrupt("killed")
        return rollout


def test_controller_killed_after_writing_resumes_without_a_double_step(
    rollouts, register, clock, name
) -> None:
    sink = InProcessSink()
    rollout = _start(rollouts, clock, name)
    send(sink, rollout, 4000)
    clock.advance(601)
    doomed = _controller(_KilledAfterWrite(register), sink, name, clock, holder="doomed")
    try:
        doomed.tick()
        raise AssertionError("the controller should have died")
    except KeyboardInterrupt:
        pass
    left = rollouts.get(name, "champion")
    assert left.step == 1 and left.pending == ("note",)
    # the restarted controller (a new holder, once the dead one's lease expired)
    clock.advance(31)
    restarted = _controller(rollouts, sink, name, clock, holder="restarted")
    decision = restarted.tick()
    assert decision.action == "wait"  # step 2 just started: no second step
    after = rollouts.get(name, "champion")
    assert after.step == 1 and after.pending == ()
    notes = [m.note or "" for m in register.history(name, "champion")]
    assert sum(left.marker in n for n in notes) == 1  # the step is recorded once
    # ticks again later do not step again until the interval passed
    clock.advance(100)
    assert restarted.tick().action == "wait"
    assert rollouts.get(name, "champion").step == 1


def test_pending_promote_is_finished_once(rollouts, register, clock, name) -> None:
    rollout = _start(rollouts, clock, name)
    last = replace(rollout, step=3)
    stored = rollouts.save(
        replace(last, status="promoted", reason="promoted by test", pending=("promote", "note")),
        expect=rollout.generation,
    )
    # killed here: the alias has not moved yet
    assert register.versions(name)[0].aliases == ("champion",)
    controller = _controller(rollouts, InProcessSink(), name, clock)
    assert controller.tick().action == "idle"
    assert register.versions(name)[1].aliases == ("champion",)
    promotes = [m for m in register.history(name, "champion") if m.action == "promote"]
    assert [m.version for m in promotes] == [1, 2]
    assert rollouts.get(name, "champion").pending == ()
    assert rollouts.get(name, "champion").generation == stored.generation + 1


def test_paused_failing_candidate_is_still_rolled_back(rollouts, clock, name) -> None:
    sink = InProcessSink()
    rollout = _start(rollouts, clock, name)
    operations.pause(rollouts, name, "champion")
    send(sink, rollout, 4000, canary_error_every=10)  # the paused split still serves it
    decision = _controller(rollouts, sink, name, clock).tick()
    assert decision.action == "rollback"
    assert rollouts.get(name, "champion").status == "rolled-back"


class _FlakyStore(RolloutStore):
    """A store whose first two reads fail as an unreachable registry does."""

    failures = 2

    def load(self, name: str, alias: str) -> Rollout | None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailableError("the registry did not answer")
        return super().load(name, alias)


def test_run_rides_out_a_registry_outage_and_stops_when_the_rollout_ends(
    rollouts, register, clock, name
) -> None:
    sink = InProcessSink()
    rollout = _start(rollouts, clock, name)
    send(sink, rollout, 4000, canary_error_every=10)
    seen: list[str] = []
    controller = _controller(_FlakyStore(register), sink, name, clock)
    last = controller.run(poll=5.0, on_decision=lambda d: seen.append(d.action))
    assert seen == ["error", "error", "rollback"]
    assert last.action == "rollback"
    lease = controller.lease.read()
    assert lease is not None and lease.expires == 0.0  # released on the way out
