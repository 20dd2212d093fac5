"""Tracing beyond the batch: a streamed answer is one trace, ``--trace/--no-trace`` on
``llmreg predict``, spans built off the prediction's path (flushed), and MLflow's span
batch size set for the process. Real sqlite store, the echo provider."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from click.testing import CliRunner

from llmreg.definition import ModelDefinition
from llmreg.errors import ProviderError
from llmreg.schemas import Request
from llmreg_pyfunc import CustomLoader, CustomSaver, tracing
from llmreg_pyfunc.tracing import TRACING_ENV
from support.traces import search_traces


def _spans(trace: Any, name: str) -> list[Any]:
    return [s for s in trace.data.spans if s.name == name or s.name.startswith(f"{name}_")]


async def _stream(adapter: Any, text: str) -> list[Any]:
    return [chunk async for chunk in adapter.astream(Request(input=text))]


def test_a_streamed_answer_is_one_trace(traced_experiment: str, experiment: str) -> None:
    saved = CustomSaver(experiment=experiment).save(
        ModelDefinition(provider="echo", model="echo-s", system_prompt="Stream.")
    )
    adapter = CustomLoader().load(saved.uri)
    chunks = asyncio.run(_stream(adapter, "hello stream"))
    assert chunks[-1].done is not None and chunks[-1].done.text == "echo: hello stream"
    with pytest.raises(ProviderError):
        asyncio.run(_stream(adapter, "!fail"))
    ok, failed = sorted(search_traces(traced_experiment), key=lambda t: t.info.request_time)
    (span,) = _spans(ok, "llmreg.request")
    assert span.inputs["messages"] == [
        {"role": "system", "content": "Stream."},
        {"role": "user", "content": "hello stream"},
    ]
    assert span.outputs == {"answer": "echo: hello stream"}
    assert span.attributes["llmreg.model_used"] == "echo-s"
    assert str(span.status.status_code).endswith("OK")
    (root,) = _spans(ok, "llmreg.predict")
    assert root.attributes["llmreg.model"] == "echo-s"
    (bad,) = _spans(failed, "llmreg.request")
    assert str(bad.status.status_code).endswith("ERROR")
    assert bad.attributes["llmreg.error_type"] == "ProviderBadRequestError"


def test_a_stream_is_not_traced_when_switched_off(
    traced_experiment: str, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TRACING_ENV, "0")
    saved = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="e"))
    chunks = asyncio.run(_stream(CustomLoader().load(saved.uri), "x"))
    assert chunks[-1].done is not None
    assert search_traces(traced_experiment) == []


@pytest.mark.parametrize(
    ("flag", "definition_tracing", "traced"),
    [("--trace", False, 1), ("--no-trace", True, 0), (None, False, 0), (None, True, 1)],
)
def test_predict_trace_switch(
    traced_experiment: str,
    experiment: str,
    monkeypatch: pytest.MonkeyPatch,
    flag: str | None,
    definition_tracing: bool,
    traced: int,
) -> None:
    from llmreg.cli import cli

    saved = CustomSaver(experiment=experiment).save(
        ModelDefinition(provider="echo", model="e", tracing=definition_tracing)
    )
    monkeypatch.setenv(TRACING_ENV, "")  # the CLI sets it for its process: restored after
    args = ["predict", saved.uri, "hi", *([flag] if flag else [])]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert "echo: hi" in done.stdout
    assert len(search_traces(traced_experiment)) == traced


def test_spans_are_built_off_the_path_and_flushed(traced_experiment: str, experiment: str) -> None:
    saved = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="e"))
    adapter = CustomLoader().load(saved.uri)
    for _ in range(3):
        adapter.predict(["a", "b"])
    tracing.flush()  # the public flush: recorder, then MLflow's export
    traces = search_traces(traced_experiment)
    assert len(traces) == 3
    assert all(len(_spans(t, "llmreg.request")) == 2 for t in traces)
    assert os.environ[tracing.SPAN_BATCH_ENV] == tracing.SPAN_BATCH_DEFAULT


def test_a_host_run_gets_the_trace_at_once(traced_experiment: str, experiment: str) -> None:
    """Inside an active run the trace is recorded in the caller's thread, linked to the run."""
    import mlflow

    saved = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="e"))
    adapter = CustomLoader().load(saved.uri)
    with mlflow.start_run(experiment_id=traced_experiment) as run:
        adapter.predict(["in a run"])
    (trace,) = search_traces(traced_experiment)
    assert trace.info.request_metadata.get("mlflow.sourceRun") == run.info.run_id


def test_a_stream_left_after_its_last_chunk_is_ok(traced_experiment: str, experiment: str) -> None:
    """``llmreg serve`` closes the stream once it has the last chunk: still an OK span."""
    saved = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="e"))
    adapter = CustomLoader().load(saved.uri)

    async def leave_at_the_end() -> None:
        stream = adapter.astream(Request(input="leave"))
        async for chunk in stream:
            if chunk.done is not None:
                break
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(leave_at_the_end())
    (trace,) = search_traces(traced_experiment)
    (span,) = _spans(trace, "llmreg.request")
    assert str(span.status.status_code).endswith("OK")
    assert span.outputs == {"answer": "echo: leave"}


def test_closing_the_model_exports_its_pending_traces(
    traced_experiment: str, experiment: str
) -> None:
    """A server's shutdown closes its models: their traces are exported then, without an
    explicit flush (a signal may end the process before ``atexit``)."""

    saved = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="e"))
    adapter = CustomLoader().load(saved.uri)
    adapter.predict(["before close"])
    adapter.close()
    assert len(search_traces(traced_experiment, flush=False)) == 1
