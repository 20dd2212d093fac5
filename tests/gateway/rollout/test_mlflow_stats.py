"""Per-arm stats through an MLflow run: replicas flush, the controller merges and charts."""

from __future__ import annotations

from gateway.rollout.traffic import send
from mlflow import MlflowClient

from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.controller import Controller
from llmreg_gateway.rollout.lease import Lease
from llmreg_gateway.rollout.mlflow_stats import RUN_TAG, MlflowRunSink
from llmreg_gateway.rollout.spec import Guards


def test_replicas_flush_and_the_controller_reads_the_sum(store, rollouts, clock, name) -> None:
    rollout = operations.start(
        rollouts,
        clock,
        name,
        to="2",
        alias="champion",
        steps=(50, 100),
        interval_s=60.0,
        sticky_by="key",
        guards=Guards(max_error_rate=0.02, min_requests=100),
    )
    one = MlflowRunSink(store.uri, replica="replica:1")
    two = MlflowRunSink(store.uri, replica="replica:2")
    got_one = send(one, rollout, 600)
    got_two = send(two, rollout, 600, canary_error_every=10, offset=600)
    one.flush()
    two.flush()
    one.flush()  # a repeated flush writes the same totals: nothing is counted twice
    reader = MlflowRunSink(store.uri, replica="controller")
    window = reader.window(rollout.id, 0)
    assert window["canary"].requests == got_one["canary"] + got_two["canary"]
    assert window["stable"].requests == got_one["stable"] + got_two["stable"]
    assert window["canary"].errors == got_two["canary"] // 10
    assert window["canary"].tokens_per_request == 20.0
    assert 90 < window["canary"].p95_ms < 120  # 100 ms, within a bucket
    # the controller judges from the run, and charts what it saw
    lease = Lease(rollouts.register, name, "champion", clock, holder="c", settle=0.0)
    decision = Controller(rollouts, reader, name, "champion", clock, lease=lease).tick()
    assert decision.action == "rollback"  # 5% of the canary failed on replica 2
    client = MlflowClient(store.uri)
    run = client.search_runs(
        [client.get_experiment_by_name("llmreg-rollouts").experiment_id],
        filter_string=f"tags.`{RUN_TAG}` = '{rollout.id}'",
    )
    assert len(run) == 1
    history = client.get_metric_history(run[0].info.run_id, "canary/requests")
    assert [(m.step, m.value) for m in history] == [(0, float(window["canary"].requests))]
    rates = client.get_metric_history(run[0].info.run_id, "canary/error_rate")
    assert rates[-1].value == window["canary"].error_rate > 0.02
