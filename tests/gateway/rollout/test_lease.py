"""Exactly one controller acts: the registry lease, raced by two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.lease import Lease
from llmreg_gateway.rollout.spec import Guards
from llmreg_gateway.rollout.state import SystemClock

RACER = Path(__file__).with_name("lease_race.py")


def test_two_controllers_started_at_once_one_acts(
    store, rollouts, register, name, tmp_path
) -> None:
    operations.start(
        rollouts,
        SystemClock(),
        name,
        to="2",
        alias="champion",
        steps=(50, 100),
        interval_s=0.01,
        sticky_by="key",
        guards=Guards(min_requests=100),
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri}
    racers = [
        subprocess.Popen(
            [sys.executable, str(RACER), store.uri, name, str(tmp_path), who],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{w}").exists() for w in "ab"):
        assert time.monotonic() < deadline, [r.poll() for r in racers]
        time.sleep(0.05)
    (tmp_path / "go").touch()
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    actions = sorted(r["action"] for r in results)
    assert actions == ["standby", "step"], results
    actor = next(r["holder"] for r in results if r["action"] == "step")
    assert rollouts.get(name, "champion").step == 1  # one step, not two
    lease = Lease(register, name, "champion", SystemClock()).read()
    assert lease is not None and lease.holder == actor


def test_stale_lease_is_taken_over_and_live_one_is_not(rollouts, register, name, clock) -> None:
    first = Lease(register, name, "champion", clock, holder="first", ttl=30, settle=0.1)
    second = Lease(register, name, "champion", clock, holder="second", ttl=30, settle=0.1)
    assert first.acquire()
    assert not second.acquire()
    clock.advance(20)
    assert first.acquire()  # renewed: more than half the term had gone
    clock.advance(20)
    assert not second.acquire()  # still live after the renewal
    clock.advance(31)
    assert second.acquire()  # stale: taken over
    assert not first.acquire()
    taken = second.read()
    assert taken is not None and taken.holder == "second" and taken.generation == 3
    second.release()
    assert first.acquire()
