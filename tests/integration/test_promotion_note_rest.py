"""A checked promote against a real ``mlflow server``: the REST path (llmreg_mlflow.rest)
stores the gate's decision with the alias move, and ``llmreg history --json`` (a fresh
CLI process on the server) shows it, as MLflow's own client reads the tag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.mlflow_server import MlflowServer, running_mlflow_server

ECHO_MODEL = Path(__file__).parents[1] / "mlflow" / "echo_model.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-note")) as running:
        yield running


def _llmreg(server: MlflowServer, *args: str) -> tuple[int, Any, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "LLMREG_MLFLOW_REST": "1"}
    env.pop("MLFLOW_REGISTRY_URI", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from llmreg.cli import main; import sys; main(sys.argv[1:])",
            *args,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_checked_promote_over_rest_records_the_decision(server: MlflowServer) -> None:
    import mlflow
    from mlflow import MlflowClient

    from llmreg_mlflow import MlflowRegister

    name = f"note-{uuid.uuid4().hex[:8]}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(server.url)
    register = MlflowRegister(tracking_uri=server.url)
    try:
        for content, score in (("one", "0.5"), ("two", "0.9")):
            with mlflow.start_run():
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(ECHO_MODEL),
                    pip_requirements=["mlflow"],
                    metadata={"llmreg_content_hash": f"sha256:{content * 8}"},
                )
            ref = register.register(name, info.model_uri)
            register.set_tags(name, ref.version, {"llmreg.eval.accuracy": score})
    finally:
        mlflow.set_tracking_uri(previous)  # other tests of the session keep their store
    register.promote(name, 1)

    code, out, err = _llmreg(
        server, "promote", name, "2", "--require", "accuracy>=0.8", "--not-worse-than", "champion"
    )
    assert code == 0, err
    decision = (
        "require accuracy>=0.8: 0.9 (candidate) ok; not worse than @champion (version 1): "
        "accuracy 0.9 vs 0.5 ok"
    )
    assert out["note"] == decision
    code, out, err = _llmreg(server, "history", name)
    assert code == 0, err
    assert [(m["version"], m["note"]) for m in out["moves"]] == [(1, None), (2, decision)]
    tags = MlflowClient(server.url).get_registered_model(name).tags
    stored = [json.loads(v) for k, v in tags.items() if k.startswith("llmreg.alias_move.")]
    assert decision in [m.get("note") for m in stored]

    code, out, err = _llmreg(server, "promote", name, "1", "--require", "accuracy>=0.8")
    assert code == 1
    assert "accuracy is 0.5, required >= 0.8" in json.dumps(out) + err
