"""One contender of the two-process lease test: ``python lease_race.py URI NAME DIR ID``.

Builds a controller on the store, says it is ready (``DIR/ready-ID``), waits for
``DIR/go``, ticks once with the real clock, and prints the decision as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from llmreg_gateway.rollout.controller import Controller
from llmreg_gateway.rollout.lease import Lease
from llmreg_gateway.rollout.state import RolloutStore, SystemClock
from llmreg_gateway.rollout.stats import InProcessSink
from llmreg_mlflow import MlflowRegister


def main(uri: str, name: str, folder: Path, me: str) -> None:
    """Race for the lease once; print what this contender did."""
    register = MlflowRegister(tracking_uri=uri)
    store = RolloutStore(register)
    rollout = store.get(name, "champion")
    sink = InProcessSink()
    for i in range(400):  # a healthy candidate, as this replica saw it
        arm = "canary" if i % 2 else "stable"
        sink.record(rollout.id, rollout.step, arm, ok=True, latency_ms=50.0)
    clock = SystemClock()
    lease = Lease(register, name, "champion", clock, holder=me, settle=1.0)
    controller = Controller(store, sink, name, "champion", clock, lease=lease)
    register.read_model_tags(name)  # warm: the store is open before the race
    (folder / f"ready-{me}").touch()
    while not (folder / "go").exists():
        time.sleep(0.001)
    decision = controller.tick()
    print(json.dumps({"holder": me, "action": decision.action}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4])
