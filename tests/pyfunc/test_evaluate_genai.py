"""``llmreg evaluate --scorer`` with ``mlflow.genai`` scorers and judges, offline.

Judges call the fake OpenAI server (tests/support/openai_server.py) through MLflow's
own judge adapter: ``openai:/judge-yes`` with ``OPENAI_BASE_URL`` on 127.0.0.1 answers
``{"result": "yes", ...}`` as a judge model would, ``openai:/judge-no`` says no. The
model evaluated answers through the echo provider, on a real sqlite store.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmreg.definition import ModelDefinition
from llmreg_mlflow import MlflowRegister
from llmreg_pyfunc import CustomSaver
from support.openai_server import FakeOpenAIServer

SCORERS = """
from mlflow.genai.scorers import scorer


@scorer
def starts_with_echo(outputs) -> bool:
    return outputs.startswith("echo: ")


@scorer
def length_ratio(outputs, expectations) -> float:
    return len(outputs) / max(1, len(expectations["expected_response"]))


def plain(outputs):
    return "yes" if outputs else "no"
"""


#: MLflow before its judge adapters (3.4) calls a judge through litellm only, which this
#: suite does not install: the judge tests need MLflow's own OpenAI-provider path.
needs_native_judges = pytest.mark.skipif(
    importlib.util.find_spec("mlflow.genai.judges.adapters") is None,
    reason="this MLflow calls judges through litellm only",
)


def _cli(*args: str) -> Any:
    from llmreg.cli import cli

    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """The fake OpenAI server as the judges' endpoint (MLflow reads these variables)."""
    with FakeOpenAIServer(latency=0.0) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "judge-key")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.delenv("OPENAI_API_BASE", raising=False)
        yield srv


@pytest.fixture
def model(experiment: str, store: Path) -> str:
    name = f"genai-{uuid.uuid4().hex[:8]}"
    saved = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="e"))
    MlflowRegister().register(name, saved.uri)
    return name


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "eval.jsonl"
    rows = [{"input": t, "expected": f"echo: {t}"} for t in ("Paris?", "Rome?")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def scorers_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"my_scorers_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(SCORERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@needs_native_judges
def test_judges_and_custom_scorers_through_mlflow(
    judge: FakeOpenAIServer, model: str, data: Path, scorers_module: str
) -> None:
    from mlflow import MlflowClient

    done = _cli(
        "evaluate", f"models:/{model}/1", "--data", str(data),
        "--scorer", "exact_match",
        "--scorer", "mlflow:Correctness",
        "--scorer", 'mlflow:Guidelines(guidelines="Answer in one word.")',
        "--scorer", f"{scorers_module}:starts_with_echo",
        "--scorer", f"{scorers_module}:length_ratio",
        "--scorer", f"{scorers_module}:plain",
        "--judge-model", "openai:/judge-yes",
        "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["metrics"] == {
        "exact_match": 1.0,
        "correctness": 1.0,
        "guidelines": 1.0,
        "starts_with_echo": 1.0,
        "length_ratio": 1.0,
        "plain": 1.0,
        "failed_rows": 0.0,
    }
    # two rows, two judges: four judge requests, each with the row's answer in its prompt
    asked = [r for r in judge.requests if r.model == "judge-yes"]
    assert len(asked) == 4
    assert all(r.authorization == "Bearer judge-key" for r in asked)
    assert any("echo: Paris?" in json.dumps(r.body) for r in asked)
    # logged on the evaluation run and kept on the version, as the built-in metrics
    run = MlflowClient().get_run(result["run_id"])
    assert run.data.metrics["correctness"] == 1.0
    tags = MlflowClient().get_model_version(model, "1").tags
    assert tags["llmreg.eval.guidelines"] == "1.0"


@needs_native_judges
def test_a_judge_that_says_no_blocks_the_promotion(
    judge: FakeOpenAIServer, model: str, data: Path
) -> None:
    spec = 'mlflow:Correctness(model="openai:/judge-no")'
    done = _cli("evaluate", f"models:/{model}/1", "--data", str(data), "--scorer", spec)
    assert done.exit_code == 0, done.output
    assert "correctness      0" in done.stdout
    assert judge.count(model="judge-no") == 2
    refused = _cli("promote", model, "1", "--require", "correctness>=0.5")
    assert refused.exit_code == 1
    assert "correctness is 0, required >= 0.5" in refused.stderr


def test_a_failed_row_scores_zero_and_a_scorer_error_is_counted(scorers_module: str) -> None:
    from llmreg_pyfunc.scoring import GenaiScorers

    scored = GenaiScorers([f"{scorers_module}:length_ratio"])(
        [{"input": "a"}, {"input": "b"}, {"input": "c"}],
        ["echo: a", None, "echo: c"],
        ["echo: a", "echo: b", ""],
    )
    assert scored == {"length_ratio": [1.0, 0.0, 7.0]}

    def broken(outputs):
        raise RuntimeError("boom")

    from mlflow.genai.scorers import scorer

    from llmreg_pyfunc import scoring
    from llmreg_pyfunc.evaluate_cli import summarize

    runner = GenaiScorers([])
    runner.scorers = [("plain", scoring.build(f"{scorers_module}:plain"))]
    runner.scorers.append(("x:broken", scorer(broken)))
    out = runner([{"input": "a"}], ["echo: a"], ["echo: a"])
    assert out == {"plain": [1.0], "broken": [None]}
    assert summarize(out) == {"plain": 1.0, "broken": 0.0, "broken_errors": 1.0}


@pytest.mark.parametrize(
    "spec, message",
    [
        ("mlflow:NoSuchScorer", "has no scorer 'NoSuchScorer'"),
        ("mlflow:Guidelines(1)", "key=value"),
        ("mlflow:Guidelines(guidelines=open('x'))", "literals"),
        ("no_such_module_xyz:f", "cannot import"),
        ("json:no_such_attr", "has no 'no_such_attr'"),
    ],
)
def test_a_bad_scorer_fails_before_any_prediction(
    spec: str, message: str, model: str, data: Path
) -> None:
    done = _cli("evaluate", f"models:/{model}/1", "--data", str(data), "--scorer", spec)
    assert done.exit_code != 0
    assert message in done.stderr


def test_the_docs_scorer_runs_as_the_page_shows_it(
    model: str, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/mlflow-ui.md's ``docs_scorers.py`` (tests/core/test_docs_code.py keeps the page
    and the file identical), named as ``module:function`` from its folder."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    done = _cli(
        "evaluate", f"models:/{model}/1", "--data", str(data),
        "--scorer", "docs_scorers:short", "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["metrics"]["short"] == 1.0
