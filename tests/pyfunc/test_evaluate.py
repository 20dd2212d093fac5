"""``llmreg evaluate`` and ``llmreg promote --require/--not-worse-than``, on a real sqlite store.

The echo provider answers ``echo: <last message>``, so a dataset expecting that
scores 1 for a plain model and 0 for one whose user_template changes the message:
a worse candidate to refuse.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmreg.definition import ModelDefinition
from llmreg_mlflow import MlflowRegister
from llmreg_pyfunc import CustomSaver


def _cli(*args: str) -> Any:
    from llmreg.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_evaluate_then_a_worse_candidate_is_refused(
    experiment: str, store: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    name = f"eval-{uuid.uuid4().hex[:8]}"
    good = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="e"))
    worse = CustomSaver(experiment=experiment).save(
        ModelDefinition(provider="echo", model="e", user_template="Q: {input}")
    )
    MlflowRegister().register(name, good.uri)
    MlflowRegister().register(name, worse.uri)
    data = tmp_path / "eval.jsonl"
    data.write_text(
        "".join(json.dumps({"input": t, "expected": f"echo: {t}"}) + "\n" for t in ("a", "b"))
    )
    scorers = ["--scorer", "exact_match", "--scorer", "contains", "--scorer", "json_valid"]
    scorers += ["--scorer", "regex:^echo: [ab]$"]

    done = _cli("evaluate", f"models:/{name}/1", "--data", str(data), *scorers, "--json")
    assert done.exit_code == 0, done.output
    first = json.loads(done.stdout)
    assert first["metrics"] == {
        "exact_match": 1.0,
        "contains": 1.0,
        "json_valid": 0.0,
        "regex": 1.0,
        "failed_rows": 0.0,
    }
    run = MlflowClient().get_run(first["run_id"])
    assert run.data.metrics["exact_match"] == 1.0
    assert run.data.tags["llmreg.version"] == "1"
    assert run.info.experiment_id == MlflowClient().get_run(good.run_id).info.experiment_id

    table = _cli("evaluate", f"models:/{name}/2", "--data", str(data), *scorers)
    assert table.exit_code == 0, table.output
    assert "exact_match      0" in table.stdout and "regex            0" in table.stdout

    ok = _cli("promote", name, "1", "--require", "exact_match>=0.8")
    assert ok.exit_code == 0, ok.output
    refused = _cli("promote", name, "2", "--not-worse-than", "champion")
    assert refused.exit_code == 1
    assert "exact_match is 0, @champion (version 1) has 1" in refused.stderr
    refused = _cli("promote", name, "2", "--require", "exact_match>=0.8")
    assert refused.exit_code == 1
    assert "exact_match is 0, required >= 0.8" in refused.stderr
    assert {k: str(v) for k, v in MlflowClient().get_registered_model(name).aliases.items()} == {
        "champion": "1"
    }
    checked = MlflowClient().get_model_version(name, "1").tags["llmreg.promotion_check"]
    assert checked == "require exact_match>=0.8: 1 (candidate) ok"


def test_bad_scorers_and_requirements_are_usage_errors(tmp_path: Path, store: Path) -> None:
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"input": "a"}) + "\n")
    assert (
        "unknown scorer"
        in _cli("evaluate", "models:/x/1", "--data", str(data), "--scorer", "bleu").stderr
    )
    assert (
        "'expected'"
        in _cli("evaluate", "models:/x/1", "--data", str(data), "--scorer", "contains").stderr
    )
    assert "METRIC>=NUMBER" in _cli("promote", "x", "1", "--require", "exact_match~1").stderr


def test_a_data_file_that_is_a_fifo_is_named_not_read(tmp_path):
    import os

    from llmreg.errors import ConfigError
    from llmreg_pyfunc.evaluate_cli import read_dataset

    fifo = tmp_path / "eval.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"--data file .* is a FIFO \(named pipe\)"):
        read_dataset(str(fifo))
