"""Traces of predictions sent to a real ``mlflow server``: in batches through its OTLP
endpoint when its store keeps spans (a SQL backend), through MLflow's own exporter
when it refuses them (a file backend), and read back with ``mlflow.search_traces``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmreg.definition import ModelDefinition
from llmreg.manager import get_plugin_manager
from llmreg_pyfunc import trace_export as te
from llmreg_pyfunc.tracing import TRACING_ENV, TracedAdapter, flush
from support.mlflow_server import MlflowServer
from support.traces import search_traces


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tracing on, traces written by the recorder thread; writers reset around."""
    from llmreg_mlflow.store.private import store_keeps_spans

    if not store_keeps_spans():
        pytest.skip("this MLflow reads spans only from artifacts: llmreg uses its exporter")
    monkeypatch.setenv(TRACING_ENV, "1")
    monkeypatch.setenv(te.EXPORT_ENV, "process")  # a server's traces: the thread writes
    te.close_writers(30.0)
    te._SERVERS.clear()
    yield
    te.close_writers(30.0)
    te._SERVERS.clear()


def _predict_traced(server: MlflowServer, experiment: str, monkeypatch: Any) -> tuple[str, Any]:
    import mlflow

    mlflow.set_tracking_uri(server.url)
    experiment_id = mlflow.create_experiment(experiment)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    writer = te.writer()
    model = TracedAdapter.build(
        ModelDefinition(provider="echo", model="echo-1"), {}, manager=get_plugin_manager()
    )
    out = model.predict(["hello", "!fail"])
    assert [r.metadata["status"] for r in out.rows] == ["ok", "error"]
    flush(120.0)
    model.close()
    return experiment_id, writer


def _check(trace: Any) -> None:
    names = sorted(s.name.split("_")[0] for s in trace.data.spans)
    assert names == ["llmreg.predict", "llmreg.request", "llmreg.request"]
    answers = [s.outputs for s in trace.data.spans if s.name.startswith("llmreg.request")]
    assert {"answer": "echo: hello"} in answers


def test_a_sql_backed_server_takes_batches(
    tmp_path: Path, traced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MlflowServer(tmp_path / "server") as server:
        experiment_id, writer = _predict_traced(server, "batches-to-a-server", monkeypatch)
        assert isinstance(writer, te.StoreWriter)  # no helper process: the server writes
        (trace,) = search_traces(experiment_id)
        _check(trace)
        assert writer.lost == 0 and not writer.unsupported


def test_a_file_backed_server_gets_traces_through_mlflow_s_exporter(
    tmp_path: Path, traced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "file-server"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.17 asks for it
    with MlflowServer(folder, backend_uri=(folder / "mlruns").as_uri()) as server:
        experiment_id, writer = _predict_traced(server, "file-backed", monkeypatch)
        assert isinstance(writer, te.StoreWriter)
        assert writer.unsupported  # the server answered 501: not counted as lost
        assert writer.lost == 0
        (trace,) = search_traces(experiment_id)
        _check(trace)
