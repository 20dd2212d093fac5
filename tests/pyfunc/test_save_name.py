"""``llmreg save --register --name X`` names the logged model (and its default experiment)
X, as the registered model: the MLflow UI shows one name for both. Real sqlite store."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner


def test_the_logged_model_takes_the_registered_name(
    store: Path, tmp_path: Path, providers: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from llmreg.cli import cli

    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    name = f"support-bot-{uuid.uuid4().hex[:6]}"
    config = tmp_path / "model.json"
    config.write_text(json.dumps({"provider": "echo", "model": "echo-model-name"}))
    done = CliRunner().invoke(cli, ["save", str(config), "--register", "--name", name, "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    client = MlflowClient()
    assert result["registered"]["name"] == name
    logged = client.get_logged_model(result["model_uri"].removeprefix("models:/"))
    assert logged.name == name  # not "model", not the provider's model
    assert client.get_experiment(logged.experiment_id).name == name

    # without --register the saver keeps its own default name
    plain = CliRunner().invoke(cli, ["save", str(config), "--json"])
    assert plain.exit_code == 0, plain.output
    model_id = json.loads(plain.stdout)["model_uri"].removeprefix("models:/")
    assert client.get_logged_model(model_id).name != name
