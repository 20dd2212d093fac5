"""A rollout against a real ``mlflow server``: the register's REST path keeps the state,
two replicas feed the run, the controller rolls a failing candidate back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from gateway.rollout.traffic import send
from mlflow import MlflowClient

from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.controller import Controller
from llmreg_gateway.rollout.lease import Lease
from llmreg_gateway.rollout.mlflow_stats import MlflowRunSink
from llmreg_gateway.rollout.routing import RolloutRouter
from llmreg_gateway.rollout.spec import Guards
from llmreg_gateway.rollout.state import RolloutStore
from llmreg_mlflow import MlflowRegister
from support.mlflow_server import MlflowServer, running_mlflow_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One ``mlflow server --workers 1`` on a sqlite store."""
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as running:
        yield running


def test_rollback_through_a_server(server: MlflowServer, clock) -> None:
    client = MlflowClient(server.url, server.url)
    name = f"chat-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(f"e-{name}")).info.run_id
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run}/model", run_id=run)
    register = MlflowRegister(tracking_uri=server.url)
    register.promote(name, 1, "champion")
    rollouts = RolloutStore(register)
    rollout = operations.start(
        rollouts,
        clock,
        name,
        to="2",
        alias="champion",
        steps=(20, 100),
        interval_s=60.0,
        sticky_by="key",
        guards=Guards(max_error_rate=0.02, min_requests=100),
    )
    # a replica that refreshes from the server routes by the same split
    router = RolloutRouter()
    router.refresh(RolloutStore(MlflowRegister(tracking_uri=server.url)), [name])
    split = router.split(name)
    assert split is not None and split.rollout == rollout
    replicas = [MlflowRunSink(server.url, replica=f"r{i}") for i in (1, 2)]
    send(replicas[0], rollout, 1000)
    send(replicas[1], rollout, 1000, canary_error_every=10, offset=1000)
    for replica in replicas:
        replica.flush()
    lease = Lease(register, name, "champion", clock, holder="c", settle=0.2)
    controller = Controller(
        rollouts, MlflowRunSink(server.url), name, "champion", clock, lease=lease
    )
    decision = controller.tick()
    assert decision.action == "rollback", decision.detail
    assert rollouts.get(name, "champion").status == "rolled-back"
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    moves = register.history(name, "champion")  # read over REST
    assert [m.action for m in moves] == ["promote", "note", "note"]
    assert "failed error_rate" in (moves[-1].note or "")
    router.refresh(rollouts, [name])
    assert router.route(name, "champion", "user-1") is None  # every replica back on v1
