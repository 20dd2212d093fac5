"""Per-arm statistics through an MLflow run, shared by every replica and the controller.

Each rollout has one MLflow run (experiment ``llmreg-rollouts``, tag
``llmreg.rollout_id``). A replica counts requests in memory
(:class:`~llmreg_gateway.rollout.stats.InProcessSink`) and :meth:`MlflowRunSink.flush`
writes its running totals of each step and arm as one run tag,
``llmreg.stats.<step>.<arm>.<replica>`` (overwritten on every flush, so a flush
is idempotent). The controller's :meth:`MlflowRunSink.window` merges the tags of
every replica, and :meth:`MlflowRunSink.publish` logs the merged numbers as
metrics (``canary/error_rate``..., with the rollout step as MLflow's step), so
the split charts in the MLflow UI.

mlflow is imported when a sink is made, never when this module is imported.
"""

from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING

from llmreg_gateway.rollout.lease import new_holder_id
from llmreg_gateway.rollout.stats import ARMS, Arm, ArmStats, InProcessSink, StatsSink

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: The experiment that holds the rollouts' runs.
EXPERIMENT = "llmreg-rollouts"
#: The run tag naming the rollout a run belongs to.
RUN_TAG = "llmreg.rollout_id"
_STATS_PREFIX = "llmreg.stats."
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\- /]")


def _encode(stats: ArmStats) -> str:
    sparse = {str(i): n for i, n in enumerate(stats.latency_counts) if n}
    return json.dumps(
        {"r": stats.requests, "e": stats.errors, "t": stats.tokens, "c": stats.cost, "l": sparse},
        separators=(",", ":"),
    )


def _decode(raw: str) -> ArmStats:
    data = json.loads(raw)
    sparse = {int(i): int(n) for i, n in dict(data.get("l") or {}).items()}
    size = max(sparse, default=-1) + 1
    counts = tuple(sparse.get(i, 0) for i in range(size))
    return ArmStats(int(data["r"]), int(data["e"]), float(data["t"]), float(data["c"]), counts)


class MlflowRunSink(StatsSink):
    """A :class:`StatsSink` whose windows are the sum of every replica's flushes to MLflow.

    Args:
        tracking_uri: the MLflow tracking server (default: MLflow's own).
        replica: this replica's name in the tag keys (default: host, pid, random).
        experiment: the experiment of the rollout runs.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        replica: str | None = None,
        experiment: str = EXPERIMENT,
    ) -> None:
        from mlflow import MlflowClient

        self.client: MlflowClient = MlflowClient(tracking_uri)
        self.replica = _UNSAFE.sub("-", replica or new_holder_id())
        self.experiment = experiment
        self._local = InProcessSink()
        self._runs: dict[str, str] = {}
        self._lock = threading.Lock()

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
        """Count one request in memory (no I/O on the request path)."""
        self._local.record(
            rollout_id, step, arm, ok=ok, latency_ms=latency_ms, tokens=tokens, cost=cost
        )

    def flush(self) -> None:
        """Write this replica's totals of every step and arm to the rollout's run."""
        for rollout_id, step in self._local.recorded():
            window = self._local.window(rollout_id, step)
            run = self.run_id(rollout_id)
            for arm in ARMS:
                if window[arm].requests:
                    key = f"{_STATS_PREFIX}{step}.{arm}.{self.replica}"
                    self.client.set_tag(run, key, _encode(window[arm]))

    def window(self, rollout_id: str, step: int) -> dict[Arm, ArmStats]:
        """Return the sum of every replica's flushed totals of ``step``, per arm."""
        tags = self.client.get_run(self.run_id(rollout_id)).data.tags
        out: dict[Arm, ArmStats] = {arm: ArmStats() for arm in ARMS}
        for arm in ARMS:
            prefix = f"{_STATS_PREFIX}{step}.{arm}."
            for key, raw in tags.items():
                if key.startswith(prefix):
                    out[arm] = out[arm].merged(_decode(raw))
        return out

    def publish(self, rollout_id: str, step: int, window: dict[Arm, ArmStats]) -> None:
        """Log the merged window as metrics ``<arm>/<number>`` at MLflow step ``step``."""
        from mlflow.entities import Metric

        run = self.run_id(rollout_id)
        now_ms = _now_ms()
        metrics = [
            Metric(f"{arm}/{key}", float(value), now_ms, step)
            for arm in ARMS
            for key, value in window[arm].to_dict().items()
            if isinstance(value, int | float)
        ]
        self.client.log_batch(run, metrics=metrics)

    def run_id(self, rollout_id: str) -> str:
        """Return the id of the rollout's run, creating it (and the experiment) if missing.

        Replicas that create one at the same moment converge: every reader uses the
        earliest run carrying the rollout's tag.
        """
        with self._lock:
            known = self._runs.get(rollout_id)
        if known is not None:
            return known
        experiment_id = self._experiment_id()
        found = self._find(experiment_id, rollout_id)
        if found is None:
            self.client.create_run(
                experiment_id, tags={RUN_TAG: rollout_id}, run_name=f"rollout-{rollout_id}"
            )
            found = self._find(experiment_id, rollout_id)
        if found is None:  # pragma: no cover - the store lost the run it just made
            raise RuntimeError(f"the MLflow run of rollout {rollout_id} could not be created")
        with self._lock:
            self._runs[rollout_id] = found
        return found

    def _find(self, experiment_id: str, rollout_id: str) -> str | None:
        runs = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{rollout_id}'"
        )
        if not runs:
            return None
        first = min(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))
        return str(first.info.run_id)

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(self.experiment))
        except MlflowException:
            # another replica created it first
            again = self.client.get_experiment_by_name(self.experiment)
            if again is None:
                raise
            return str(again.experiment_id)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


__all__ = ["EXPERIMENT", "RUN_TAG", "MlflowRunSink"]
