"""``llmreg evaluate`` keeps each row's scores where MLflow's evaluation views read them.

Each row of the dataset is a trace of the evaluation run (``mlflow.search_traces(run_id=)``),
whose assessments are the expected answer (an expectation) and one feedback per
scorer, as ``mlflow.genai.evaluate`` leaves them. On a real sqlite store, with the
echo provider (``"!fail"`` fails a row) and, for a judge, the fake OpenAI server.
"""

from __future__ import annotations

import json
import logging
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
from support.traces import search_traces

CANARY = "sk-canary-assess-0123456789abcdef"

SCORERS = """
from mlflow.entities import Feedback
from mlflow.genai.scorers import scorer


@scorer
def echoed(outputs):
    return Feedback(
        value="yes" if outputs.startswith("echo: ") else "no",
        rationale=f"the answer was {outputs}",
    )


@scorer
def picky(inputs, outputs):
    if inputs["input"] == "b":
        raise ValueError("picky refuses b")
    return len(outputs)
"""

#: The answer to the row holding the key (the echo provider echoes it).
KEY_ANSWER = f"echo: my key is {CANARY}"
#: (input, expected) of each row; the echo provider answers ``echo: <input>``.
ROWS = [
    ("a", "echo: a"),
    ("b", "b!"),
    (f"my key is {CANARY}", "echo: my key is"),
    ("!fail", "anything"),
]


def _cli(*args: str) -> Any:
    from llmreg.cli import cli

    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LLMREG_ASSESS_KEY", CANARY)
    return CANARY


@pytest.fixture
def model(experiment: str, store: Path, canary: str) -> str:
    name = f"assess-{uuid.uuid4().hex[:8]}"
    definition = ModelDefinition(provider="echo", model="e", api_key="env:LLMREG_ASSESS_KEY")
    saved = CustomSaver(experiment=experiment).save(definition)
    MlflowRegister().register(name, saved.uri)
    return name


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps({"input": i, "expected": e}) + "\n" for i, e in ROWS))
    return path


@pytest.fixture
def scorers_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"assess_scorers_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(SCORERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def _row_traces(run_id: str) -> dict[str, Any]:
    """The evaluation run's traces by the ``input`` of their row."""
    import mlflow

    traces = search_traces(mlflow.get_run(run_id).info.experiment_id, run_id=run_id)
    out = {}
    for trace in traces:
        (root,) = trace.data.spans
        out[root.inputs["input"]] = trace
    assert len(out) == len(traces), "two traces for one row"
    return out


def _feedback(trace: Any) -> dict[str, Any]:
    return {a.name: a for a in trace.info.assessments if a.feedback is not None}


def test_each_row_is_a_trace_of_the_run_with_one_assessment_per_scorer(
    model: str,
    data: Path,
    scorers_module: str,
    experiment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    # the prediction is traced too, in the same experiment: its trace (built in the
    # background) must stay out of the evaluation run
    monkeypatch.setenv("LLMREG_TRACING", "1")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
    done = _cli(
        "evaluate", f"models:/{model}/1", "--data", str(data),
        "--scorer", "exact_match", "--scorer", "contains", "--scorer", "regex:^echo: [ab]$",
        "--scorer", f"{scorers_module}:echoed", "--scorer", f"{scorers_module}:picky",
        "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    # the metrics are what they were before the rows became traces
    assert result["metrics"] == {
        "exact_match": 0.25,
        "contains": 0.5,
        "regex": 0.5,
        "echoed": 0.75,
        "picky": round((7 + 0 + len(KEY_ANSWER)) / 3, 4),
        "picky_errors": 1.0,
        "failed_rows": 1.0,
    }
    assert MlflowClient().get_run(result["run_id"]).data.metrics["contains"] == 0.5

    traces = _row_traces(result["run_id"])
    key_row = f"my key is {CANARY}".replace(CANARY, "***")
    assert sorted(traces) == sorted(["a", "b", key_row, "!fail"])
    values = {
        row: {name: a.value for name, a in _feedback(trace).items()}
        for row, trace in traces.items()
    }
    # exact_match, contains, regex, echoed, picky per row (a failed row: 0 on every scorer)
    keys = ("exact_match", "contains", "regex", "echoed", "picky")
    assert values == {
        "a": dict(zip(keys, [True, True, True, "yes", 7], strict=True)),
        "b": dict(zip(keys, [False, False, True, "yes", None], strict=True)),
        key_row: dict(zip(keys, [False, True, False, "yes", len(KEY_ANSWER)], strict=True)),
        "!fail": dict(zip(keys, [False, False, False, 0.0, 0.0], strict=True)),
    }
    # the expected answer is the row's expectation, as mlflow.genai.evaluate logs it
    expected = {
        row: [a.value for a in trace.info.assessments if a.expectation is not None]
        for row, trace in traces.items()
    }
    assert expected["a"] == ["echo: a"] and expected["b"] == ["b!"]

    a = _feedback(traces["a"])
    assert a["exact_match"].source.source_type == "CODE"
    assert a["exact_match"].source.source_id == "exact_match"
    assert a["regex"].source.source_id == "regex:^echo: [ab]$"
    assert a["echoed"].rationale == "the answer was echo: a"
    assert a["echoed"].metadata["mlflow.assessment.sourceRunId"] == result["run_id"]
    picky_b = _feedback(traces["b"])["picky"]
    assert picky_b.error is not None and "picky refuses b" in picky_b.error.error_message
    failed = traces["!fail"]
    assert "ERROR" in str(failed.info.state)
    assert "the row failed" in _feedback(failed)["exact_match"].rationale
    (root,) = traces["a"].data.spans
    assert root.outputs == "echo: a"
    assert root.attributes["llmreg.name"] == model
    assert root.attributes["llmreg.version"] == "1"

    # the answer echoed the key: masked in the span, the assessments and their rationale
    for trace in traces.values():
        assert CANARY not in trace.to_json()
        assert CANARY not in json.dumps([x.to_dictionary() for x in trace.info.assessments])
    assert _feedback(traces[key_row])["echoed"].rationale == "the answer was echo: my key is ***"


def test_no_assessments_when_mlflow_tracing_is_off(
    model: str, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import mlflow

    caplog.set_level(logging.DEBUG, logger="llmreg_pyfunc.assessments")
    mlflow.tracing.disable()
    try:
        done = _cli(
            "evaluate", f"models:/{model}/1", "--data", str(data), "--scorer", "contains", "--json"
        )
    finally:
        mlflow.tracing.enable()
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["metrics"] == {"contains": 0.5, "failed_rows": 1.0}
    assert _row_traces(result["run_id"]) == {}
    assert "MLflow tracing is disabled" in caplog.text


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """The fake OpenAI server as the judges' endpoint (MLflow reads these variables)."""
    with FakeOpenAIServer(latency=0.0) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "judge-key")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.delenv("OPENAI_API_BASE", raising=False)
        yield srv


def test_a_judge_says_yes_as_an_llm_judge_assessment(
    model: str, data: Path, judge: FakeOpenAIServer
) -> None:
    import importlib.util

    if importlib.util.find_spec("mlflow.genai.judges.adapters") is None:
        pytest.skip("this MLflow calls judges through litellm only")
    done = _cli(
        "evaluate", f"models:/{model}/1", "--data", str(data),
        "--scorer", "mlflow:Correctness", "--judge-model", "openai:/judge-yes",
        "--scorer", 'mlflow:Guidelines(guidelines="Be brief.", model="openai:/fault-400")',
        "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    traces = _row_traces(json.loads(done.stdout)["run_id"])
    said = _feedback(traces["a"])["correctness"]
    assert said.value == "yes"
    assert said.source.source_type == "LLM_JUDGE"
    assert "judge-yes" in said.source.source_id
    assert said.rationale
    assert _feedback(traces["!fail"])["correctness"].value == 0.0
    # a judge whose model fails: an error feedback, still the judge's
    broken = _feedback(traces["a"])["guidelines"]
    assert broken.error is not None and broken.value is None
    assert broken.source.source_type == "LLM_JUDGE"
    assert broken.source.source_id == "openai:/fault-400"
    assert "judge-key" not in json.dumps([t.to_json() for t in traces.values()])
