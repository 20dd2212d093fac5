"""Writing traces many at a time (llmreg_pyfunc.trace_export), on a real sqlite store.

Every way of exporting (``LLMREG_TRACE_EXPORT``: ``thread``, ``process``, ``mlflow``)
must record the same trace, read back as MLflow users read it (``mlflow.search_traces``).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from llmreg.definition import ModelDefinition
from llmreg_pyfunc import CustomLoader, CustomSaver
from llmreg_pyfunc import trace_export as te
from llmreg_pyfunc.tracing import TRACING_ENV, flush
from support.traces import search_traces

CANARY = "sk-canary-4e1d7a93c0b25f68"


@pytest.fixture
def experiment_id(traced_experiment: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new experiment set through ``MLFLOW_EXPERIMENT_NAME``; tracing on."""
    monkeypatch.setenv(TRACING_ENV, "1")
    return traced_experiment


@pytest.fixture
def tracking_uri(store: Any) -> str:
    """The session's sqlite store."""
    return f"sqlite:///{store / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _own_writers() -> Any:
    """Each test starts and ends without writers (a process writer is stopped)."""
    te.close_writers(30.0)
    yield
    te.close_writers(30.0)


def _needs_batches() -> None:
    from llmreg_mlflow.store.private import store_keeps_spans

    if not store_keeps_spans():
        pytest.skip("this MLflow reads spans only from artifacts: llmreg uses its exporter")


def _specs(text: str, failed: bool = False) -> list[te.SpanSpec]:
    now = time.time_ns()
    request = te.SpanSpec(
        "llmreg.request",
        "CHAT_MODEL",
        now - 2_000_000,
        now,
        {"messages": [{"role": "user", "content": text}]},
        None if failed else {"answer": f"echo: {text}"},
        "ERROR" if failed else "OK",
        {"mlflow.chat.tokenUsage": {"input_tokens": 2, "output_tokens": 3, "total_tokens": 5}},
        parent=0,
    )
    root = te.SpanSpec(
        "llmreg.predict", "CHAIN", now - 3_000_000, now, {"rows": 1}, {"failed": int(failed)},
        "ERROR" if failed else "OK", {"llmreg.model": "m"},
    )  # fmt: skip
    return [root, request]


def test_span_dicts_are_what_mlflow_reads_back() -> None:
    from mlflow.entities import Span

    root, request = (Span.from_dict(d) for d in te.span_dicts(_specs("hi")))
    assert root.trace_id == request.trace_id
    assert root.trace_id.startswith("tr-") and len(root.trace_id) == 35
    assert root.parent_id is None and request.parent_id == root.span_id
    assert request.inputs == {"messages": [{"role": "user", "content": "hi"}]}
    assert request.outputs == {"answer": "echo: hi"}
    assert request.span_type == "CHAT_MODEL"
    assert request.attributes["mlflow.chat.tokenUsage"]["total_tokens"] == 5
    assert root.attributes["llmreg.model"] == "m"
    assert request.end_time_ns - request.start_time_ns == 2_000_000
    other = Span.from_dict(te.span_dicts(_specs("hi"))[0])
    assert other.trace_id != root.trace_id  # a new trace each time


def test_a_batch_of_traces_is_one_store_call_and_reads_back_whole(experiment_id: str) -> None:
    _needs_batches()
    writer = te.StoreWriter()
    writer.write([(experiment_id, te.span_dicts(_specs(f"row {i}", i == 2))) for i in range(3)])
    traces = search_traces(experiment_id)
    assert len(traces) == 3 and writer.lost == 0
    states = sorted(str(t.info.state) for t in traces)
    assert states == ["ERROR", "OK", "OK"] or states == [
        "TraceState.ERROR",
        "TraceState.OK",
        "TraceState.OK",
    ]
    for trace in traces:
        assert sorted(s.name for s in trace.data.spans) == ["llmreg.predict", "llmreg.request"]
        assert trace.info.token_usage["total_tokens"] == 5
        assert trace.info.tags.get("mlflow.traceName") == "llmreg.predict"


def test_the_process_writer_writes_from_another_process_and_survives_sigterm(
    experiment_id: str, tracking_uri: str
) -> None:
    _needs_batches()
    writer = te.ProcessWriter(tracking_uri)
    writer.write([(experiment_id, te.span_dicts(_specs("first")))])
    assert writer.flush(120.0)
    process = writer._process
    assert process is not None and process.pid != os.getpid()
    # the server's SIGTERM reaches its process group: the writer ends with its input
    process.send_signal(signal.SIGTERM)
    writer.write([(experiment_id, te.span_dicts(_specs("second")))])
    assert writer.flush(120.0)
    assert len(search_traces(experiment_id)) == 2
    writer.close(60.0)
    assert process.returncode == 0


def test_a_dead_writer_process_leaves_the_traces_to_this_one(
    experiment_id: str, tracking_uri: str
) -> None:
    _needs_batches()
    writer = te.ProcessWriter(tracking_uri)
    writer.write([(experiment_id, te.span_dicts(_specs("first")))])
    assert writer.flush(120.0)
    process = writer._process
    assert process is not None
    process.kill()
    process.wait(30)
    for i in range(3):  # the first write may still fit the dead process's pipe
        writer.write([(experiment_id, te.span_dicts(_specs(f"after {i}")))])
    writer.flush(5.0)
    texts = {
        s.inputs["messages"][0]["content"]
        for t in search_traces(experiment_id)
        for s in t.data.spans
        if s.name == "llmreg.request"
    }
    assert {"first", "after 1", "after 2"} <= texts


@pytest.mark.parametrize(
    ("mode", "uri", "expected"),
    [
        ("thread", "sqlite:///x.db", te.StoreWriter),
        ("process", "sqlite:///x.db", te.ProcessWriter),
        ("process", "postgresql+psycopg2://u@h/db", te.ProcessWriter),
        ("process", "http://127.0.0.1:9", type(None)),  # no server says its version
        ("mlflow", "sqlite:///x.db", type(None)),
        ("thread", "file:///tmp/mlruns", type(None)),
        ("bogus", "sqlite:///x.db", te.StoreWriter),  # unknown: the default
    ],
)
def test_the_writer_follows_the_mode_and_the_store(
    mode: str, uri: str, expected: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_batches()
    import mlflow

    before = mlflow.get_tracking_uri()
    monkeypatch.setenv(te.EXPORT_ENV, mode)
    mlflow.set_tracking_uri(uri)
    try:
        assert isinstance(te.writer(), expected)
    finally:
        mlflow.set_tracking_uri(before)
        te._WRITERS.clear()  # nothing was started: a writer starts with its first batch


@pytest.mark.parametrize("mode", ["thread", "process", "mlflow"])
def test_every_export_mode_records_the_same_trace(
    mode: str, experiment_id: str, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(te.EXPORT_ENV, mode)
    monkeypatch.setenv("LLMREG_TEST_KEY", CANARY)
    definition = ModelDefinition(
        provider="echo",
        model="echo-1",
        system_prompt="Be brief.",
        api_key="env:LLMREG_TEST_KEY",
    )
    saved = CustomSaver(experiment=experiment).save(definition)
    model = CustomLoader().load(saved.uri)
    out = model.predict(["hello there", f"my key is {CANARY}", "!fail"])
    assert [r.metadata["status"] for r in out.rows] == ["ok", "ok", "error"]
    flush(120.0)

    (trace,) = search_traces(experiment_id)
    roots = [s for s in trace.data.spans if s.name == "llmreg.predict"]
    requests = sorted(
        (s for s in trace.data.spans if s.name.startswith("llmreg.request")),
        key=lambda s: s.inputs["messages"][1]["content"],
    )
    assert len(roots) == 1 and len(requests) == 3
    assert roots[0].outputs == {"answered": 2, "failed": 1}
    assert roots[0].attributes["llmreg.model"] == "echo-1"
    failed, hello, secret = requests
    assert hello.outputs == {"answer": "echo: hello there"}
    assert hello.attributes["llmreg.model_used"] == "echo-1"
    assert hello.parent_id == roots[0].span_id
    assert str(failed.status.status_code).endswith("ERROR")
    assert failed.attributes["llmreg.error_type"]
    assert secret.inputs["messages"][1]["content"].startswith("my key is ")
    assert CANARY not in trace.to_json()
    model.close()


def test_mlflow_s_sampling_ratio_holds_for_batches(
    experiment_id: str, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_batches()
    monkeypatch.setenv("MLFLOW_TRACE_SAMPLING_RATIO", "0.0")
    model = CustomLoader().load(CustomSaver(experiment=experiment).save(
        ModelDefinition(provider="echo", model="echo-1")
    ).uri)  # fmt: skip
    model.predict(["one"])
    flush(60.0)
    assert search_traces(experiment_id) == []
    monkeypatch.setenv("MLFLOW_TRACE_SAMPLING_RATIO", "1.0")
    model.predict(["two"])
    flush(60.0)
    assert len(search_traces(experiment_id)) == 1
    model.close()


def test_a_full_queue_drops_new_traces_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    from llmreg_pyfunc import tracing

    release = threading.Event()
    written: list[int] = []

    def slow_writer(items: list[tuple[Any, ...]]) -> None:  # a writer far behind
        release.wait(30)
        written.extend(item[0] for item in items)

    monkeypatch.setattr(tracing, "_QUEUE_BATCHES", 2)
    monkeypatch.setattr(tracing, "_record_batch", slow_writer)
    recorder = tracing._Recorder()
    monkeypatch.setattr(tracing, "_drain_at_exit", lambda: None)
    with caplog.at_level("WARNING", logger="llmreg_pyfunc.tracing"):
        accepted = [recorder.submit((0,))]
        time.sleep(0.2)  # the recorder thread takes the first and waits in the writer
        accepted += [recorder.submit((i,)) for i in range(1, 6)]
    assert accepted == [True, True, True, False, False, False]
    assert recorder.dropped == 3
    assert "1 trace(s) dropped so far" in caplog.text
    release.set()
    assert recorder.flush(30)
    assert sorted(written) == [0, 1, 2]


def test_a_forked_child_gets_its_own_writers_and_recorder(tracking_uri: str) -> None:
    _needs_batches()
    from llmreg_pyfunc import tracing

    te._WRITERS[("process", tracking_uri)] = te.ProcessWriter(tracking_uri)
    recorder = tracing._RECORDER
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its parent's writers and recorder are not its own
        fresh = tracing._RECORDER is not recorder
        os.write(write, f"{len(te._WRITERS)} {fresh}".encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"0 True"
    assert len(te._WRITERS) == 1 and tracing._RECORDER is recorder  # the parent's kept
    te._WRITERS.clear()


def test_the_writer_process_skips_what_it_cannot_read(
    experiment_id: str, tracking_uri: str
) -> None:
    _needs_batches()
    writer = te.ProcessWriter(tracking_uri)
    writer.write([(experiment_id, [{"not": "a span"}])])
    process = writer._process
    assert process is not None and process.stdin is not None
    process.stdin.write(b"{not json\n")
    process.stdin.flush()
    writer.write([(experiment_id, te.span_dicts(_specs("still here")))])
    assert writer.flush(120.0)
    assert process.poll() is None  # alive
    (trace,) = search_traces(experiment_id)
    assert trace.data.spans[0].name in {"llmreg.predict", "llmreg.request"}


def test_flush_finds_its_answer_among_older_ones(experiment_id: str, tracking_uri: str) -> None:
    _needs_batches()
    writer = te.ProcessWriter(tracking_uri)
    writer.write([(experiment_id, te.span_dicts(_specs("one")))])
    writer.flush(0.0)  # gives up at once: its answer comes later, with the next one's
    writer.write([(experiment_id, te.span_dicts(_specs("two")))])
    started = time.monotonic()
    assert writer.flush(60.0)
    assert time.monotonic() - started < 30
    assert len(search_traces(experiment_id)) == 2
    writer.close(60.0)


def test_after_close_traces_are_written_here_without_a_new_process(
    experiment_id: str, tracking_uri: str
) -> None:
    _needs_batches()
    writer = te.ProcessWriter(tracking_uri)
    writer.write([(experiment_id, te.span_dicts(_specs("before")))])
    writer.close(60.0)
    writer.write([(experiment_id, te.span_dicts(_specs("after")))])
    assert writer._process is None
    assert len(search_traces(experiment_id)) == 2


def test_a_bad_sampling_ratio_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmreg_pyfunc import tracing

    monkeypatch.setenv("MLFLOW_TRACE_SAMPLING_RATIO", "lots")
    assert tracing._sampling_ratio() == 1.0
    monkeypatch.setenv("MLFLOW_TRACE_SAMPLING_RATIO", "0.25")
    assert tracing._sampling_ratio() == 0.25


def test_an_active_model_or_an_otlp_collector_leaves_traces_to_mlflow(
    monkeypatch: pytest.MonkeyPatch, tracking_uri: str
) -> None:
    _needs_batches()
    import mlflow

    monkeypatch.setenv(te.EXPORT_ENV, "thread")
    mlflow.set_tracking_uri(tracking_uri)
    assert isinstance(te.writer(), te.StoreWriter)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    assert te.writer() is None  # MLflow sends traces to the collector
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    mlflow.set_active_model(name="llmreg-active-model-test")
    try:
        assert te.writer() is None  # MLflow links each trace to the active model
    finally:
        mlflow.clear_active_model()
    assert isinstance(te.writer(), te.StoreWriter)
