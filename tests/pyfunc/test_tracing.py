"""MLflow traces of predictions (llmreg_pyfunc.tracing), on a real sqlite store.

Traces are read back as MLflow users read them: ``mlflow.search_traces`` on the
experiment (``locations=`` where the installed MLflow takes it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmreg.definition import ModelDefinition
from llmreg_mlflow import MlflowRegister
from llmreg_pyfunc import CustomLoader, CustomSaver
from llmreg_pyfunc.tracing import TRACING_ENV, tracing_wanted
from support.traces import search_traces

CANARY = "sk-canary-7f3a9c1e5b2d4680"


def _spans(trace: Any, name: str) -> list[Any]:
    # MLflow 3.4 numbers spans of the same name within a trace (name_1, name_2...)
    return [s for s in trace.data.spans if s.name == name or s.name.startswith(f"{name}_")]


def test_a_prediction_of_a_registered_version_is_one_trace_with_a_span_per_request(
    traced_experiment: str, experiment: str
) -> None:
    definition = ModelDefinition(provider="echo", model="echo-1", system_prompt="Be brief.")
    saved = CustomSaver(experiment=experiment).save(definition)
    name = f"traced-{experiment}"[:200]
    MlflowRegister().register(name, saved.uri)
    out = CustomLoader().load(f"models:/{name}/1").predict(["hello there", "!fail"])
    assert out.rows[1].metadata["status"] == "error"

    (trace,) = search_traces(traced_experiment)
    (root,) = _spans(trace, "llmreg.predict")
    assert root.attributes["llmreg.name"] == name
    assert root.attributes["llmreg.version"] == "1"
    assert root.outputs == {"answered": 1, "failed": 1}
    ok, failed = _spans(trace, "llmreg.request")
    assert ok.parent_id == root.span_id
    assert ok.inputs["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there"},
    ]
    assert ok.outputs == {"answer": "echo: hello there"}
    assert ok.attributes["llmreg.model_used"] == "echo-1"
    assert ok.attributes["llmreg.attempts"] == 1
    assert ok.attributes["llmreg.fallback_index"] == 0
    assert ok.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 2,
        "output_tokens": 3,
        "total_tokens": 5,
    }
    assert ok.attributes["llmreg.latency_ms"] >= 0
    assert str(ok.status.status_code).endswith("OK")
    assert str(failed.status.status_code).endswith("ERROR")
    assert failed.attributes["llmreg.error_type"] == "ProviderBadRequestError"
    assert failed.attributes["llmreg.status_code"] == 400


def test_the_model_mlflow_loads_is_traced_too(traced_experiment: str, experiment: str) -> None:
    import mlflow

    saved = CustomSaver(experiment=experiment).save(
        ModelDefinition(provider="echo", model="echo-pyfunc")
    )
    import pandas as pd

    frame = mlflow.pyfunc.load_model(saved.uri).predict(pd.DataFrame({"input": ["a"]}))
    assert list(frame["prediction"]) == ["echo: a"]
    (trace,) = search_traces(traced_experiment)
    assert len(_spans(trace, "llmreg.request")) == 1


def test_no_secret_reaches_a_span(
    traced_experiment: str, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMREG_CANARY_KEY", CANARY)
    definition = ModelDefinition(provider="echo", model="echo-1", api_key="env:LLMREG_CANARY_KEY")
    saved = CustomSaver(experiment=experiment).save(definition)
    out = CustomLoader().load(saved.uri).predict([f"my key is {CANARY}", "!fail"])
    assert CANARY in str(out.rows[0].prediction)  # the answer itself is the caller's
    (trace,) = search_traces(traced_experiment)
    text = trace.to_json()
    assert CANARY not in text
    assert CANARY[3:] not in text
    assert "my key is ***" in json.dumps(_spans(trace, "llmreg.request")[0].inputs)


@pytest.mark.parametrize(
    ("switch", "definition_tracing", "traced"),
    [
        (None, None, True),  # an experiment is set: MLflow's settings turn it on
        (None, False, False),
        ("0", True, False),  # the CLI/serve switch wins
        ("off", None, False),
    ],
)
def test_the_switches(
    traced_experiment: str,
    experiment: str,
    monkeypatch: pytest.MonkeyPatch,
    switch: str | None,
    definition_tracing: bool | None,
    traced: bool,
) -> None:
    if switch is not None:
        monkeypatch.setenv(TRACING_ENV, switch)
    definition = ModelDefinition(provider="echo", model="echo-1", tracing=definition_tracing)
    saved = CustomSaver(experiment=experiment).save(definition)
    CustomLoader().load(saved.uri).predict(["x"])
    assert len(search_traces(traced_experiment)) == (1 if traced else 0)


def test_no_experiment_set_means_no_trace_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv(TRACING_ENV, raising=False)
    assert tracing_wanted(None) is False
    assert tracing_wanted(True) is True
    monkeypatch.setenv(TRACING_ENV, "1")
    assert tracing_wanted(False) is True


def test_a_host_span_is_the_parent(traced_experiment: str, experiment: str) -> None:
    import mlflow

    saved = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="e"))
    adapter = CustomLoader().load(saved.uri)

    @mlflow.trace(name="host")
    def host() -> Any:
        return adapter.predict(["q"])

    host()
    (trace,) = search_traces(traced_experiment)
    (root,) = _spans(trace, "llmreg.predict")
    (outer,) = _spans(trace, "host")
    assert root.parent_id == outer.span_id
