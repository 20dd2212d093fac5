"""Writing llmreg's traces to MLflow's tracking store many at a time.

MLflow's own exporter builds every span through OpenTelemetry's tracer and MLflow's
in-memory trace manager, then writes each trace with two store transactions (its
spans, then its info). Measured on a sqlite store, a two-span trace cost about
12.7 ms of CPU that way. llmreg's spans are built after the prediction, from the
times it measured (:mod:`llmreg_pyfunc.tracing`), so they can skip all of that:
:func:`span_dicts` makes each span the dictionary ``mlflow.entities.Span.from_dict``
reads, and a writer hands a batch of traces to the store's ``log_spans`` (the call
behind MLflow's own OTLP endpoint; one transaction for the whole batch), about
2.1 ms of CPU per trace.

Where the batches are written (``LLMREG_TRACE_EXPORT``):

- ``thread`` (the default): in the recorder thread of :mod:`llmreg_pyfunc.tracing`;
- ``process``: in a helper process (``python -m llmreg_pyfunc.trace_export``, one per
  serving process, started with the first trace and stopped at exit), so that the
  store's work (SQLAlchemy, pure Python) does not hold the serving process's GIL; it
  runs only when no other process wants the CPU (``SCHED_IDLE``). ``llmreg serve``
  chooses it unless the variable is set. It applies to SQL stores, on POSIX systems;
  an ``http(s)`` tracking server already does the store's work in its own process;
- ``mlflow``: MLflow's own exporter, span by span.

Batches need a store whose ``log_spans`` takes them: a SQL database (``sqlite``,
``postgresql``, ``mysql``, ``mssql``) or an ``http(s)`` tracking server (its OTLP
endpoint), and an MLflow that reads spans from the store (``TraceTagKey.SPANS_LOCATION``;
not 3.4). Anywhere else (a file store, Databricks, a destination set with
``mlflow.tracing.set_destination``), or when the store refuses, traces go through
MLflow's own exporter.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

#: Where batches are written: ``thread``, ``process`` or ``mlflow`` (see the module).
EXPORT_ENV = "LLMREG_TRACE_EXPORT"
_MODES = ("thread", "process", "mlflow")
#: Tracking URI schemes whose store writes a batch of traces at once.
_SQL_SCHEMES = frozenset({"sqlite", "postgresql", "mysql", "mssql"})
_HTTP_SCHEMES = frozenset({"http", "https"})
#: At most this many traces go in one store call.
MAX_BATCH = 256
#: How much lower the writer process's CPU priority is than the server's.
NICE = 10


@dataclass
class SpanSpec:
    """One span of a trace, as llmreg records it: what MLflow's span holds, with its
    times measured during the prediction. ``parent`` is the index of the parent span
    in the trace's list (``None`` for the root, which comes first)."""

    name: str
    span_type: str
    start_ns: int
    end_ns: int
    inputs: Any
    outputs: Any
    status: str = "OK"
    attributes: dict[str, Any] = field(default_factory=dict)
    parent: int | None = None


def _b64(number: int, size: int) -> str:
    return base64.b64encode(number.to_bytes(size, "big")).decode("ascii")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def span_dicts(specs: Sequence[SpanSpec]) -> list[dict[str, Any]]:
    """The spans of one new trace as ``mlflow.entities.Span.from_dict`` reads them
    (MLflow's V3 schema: OpenTelemetry ids in base64, every attribute JSON-encoded),
    with a new random trace id (``tr-`` and 32 hex digits, as MLflow's) and span ids."""
    trace_id = random.getrandbits(128) or 1
    request_id = _dumps(f"tr-{trace_id:032x}")
    trace_b64 = _b64(trace_id, 16)
    ids = [_b64(random.getrandbits(64) or 1, 8) for _ in specs]
    spans: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        attributes = {
            "mlflow.traceRequestId": request_id,
            "mlflow.spanType": _dumps(spec.span_type),
            "mlflow.spanInputs": _dumps(spec.inputs),
        }
        if spec.outputs is not None:
            attributes["mlflow.spanOutputs"] = _dumps(spec.outputs)
        for key, value in spec.attributes.items():
            if value is not None:
                attributes[key] = _dumps(value)
        if spec.parent is None:  # the trace's name, as MLflow's tracer sets it
            attributes["mlflow.traceTag.mlflow.traceName"] = _dumps(spec.name)
        spans.append(
            {
                "trace_id": trace_b64,
                "span_id": ids[index],
                "parent_span_id": None if spec.parent is None else ids[spec.parent],
                "name": spec.name,
                "start_time_unix_nano": spec.start_ns,
                "end_time_unix_nano": spec.end_ns,
                "status": {
                    "code": "STATUS_CODE_ERROR" if spec.status == "ERROR" else "STATUS_CODE_OK",
                    "message": "",
                },
                "attributes": attributes,
                "events": [],
            }
        )
    return spans


#: One trace to write: the experiment it belongs to and its spans (:func:`span_dicts`).
Trace = tuple[str, list[dict[str, Any]]]


def _refuses_batches(exc: Exception) -> bool:
    """Whether the store has no ``log_spans`` at all: ``NotImplementedError`` (a file
    store, an old server), or a tracking server's 501 for a file store behind it (the
    message MLflow's own exporter checks for)."""
    return isinstance(exc, NotImplementedError) or (
        "REST OTLP span logging is not supported" in str(exc)
    )


class StoreWriter:
    """Writes batches of traces with the tracking store's ``log_spans``, one call per
    experiment and batch (per trace on a store that takes one trace a call, as MLflow
    3.4's SQL store). A batch the store refuses is handed to ``fallback`` (MLflow's own
    exporter) when the store cannot take batches at all, else logged and counted in
    :attr:`lost`; the writer never raises."""

    def __init__(self, fallback: Callable[[list[Trace]], None] | None = None) -> None:
        self._fallback = fallback
        self._one_trace_per_call = False
        self.unsupported = False
        self.lost = 0

    def write(self, traces: Sequence[Trace]) -> None:
        """Write ``traces`` (see the class)."""
        if not traces:
            return
        if self.unsupported:
            self._refused(list(traces))
            return
        from mlflow.entities import Span

        from llmreg_mlflow.store.private import log_spans

        by_experiment: dict[str, list[Any]] = defaultdict(list)
        for experiment_id, spans in traces:
            try:
                by_experiment[experiment_id].append([Span.from_dict(d) for d in spans])
            except Exception as exc:
                self._lose(1, exc)
        for experiment_id, trace_spans in by_experiment.items():
            if self.unsupported:
                self._refused([t for t in traces if t[0] == experiment_id])
                continue
            if self._one_trace_per_call:
                for spans in trace_spans:
                    self._write_one(experiment_id, spans)
                continue
            batch = [s for spans in trace_spans for s in spans]
            try:
                log_spans(experiment_id, batch)
            except Exception as exc:
                if _refuses_batches(exc):
                    self.unsupported = True
                    self._refused([t for t in traces if t[0] == experiment_id])
                elif "same trace" in str(exc):  # a SQL store that takes one trace a call
                    self._one_trace_per_call = True
                    for spans in trace_spans:
                        self._write_one(experiment_id, spans)
                else:
                    self._lose(len(trace_spans), exc)

    def _write_one(self, experiment_id: str, spans: list[Any]) -> None:
        from llmreg_mlflow.store.private import log_spans

        try:
            log_spans(experiment_id, spans)
        except Exception as exc:
            self._lose(1, exc)

    def _lose(self, count: int, exc: Exception) -> None:
        self.lost += count
        logger.warning("could not record %d trace(s) in MLflow: %s", count, exc)

    def _refused(self, traces: list[Trace]) -> None:
        if self._fallback is not None:
            self._fallback(traces)
        else:
            self._lose(len(traces), NotImplementedError("the store has no log_spans"))

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing waits here: every :meth:`write` is done when it returns."""
        return True

    def close(self, timeout: float | None = None) -> None:
        """Nothing to release."""


class ProcessWriter:
    """Sends batches of traces, one JSON line each, to a helper process that writes
    them with a :class:`StoreWriter` (:func:`main`). The process starts with the first
    batch, with this process's tracking URI, in its own process group (a signal to the
    server's group, such as Ctrl-C, leaves it writing), and ends when its input closes
    (:meth:`close`, at exit). When it cannot be started, has died or was closed,
    batches are written in this process instead."""

    def __init__(self, tracking_uri: str) -> None:
        self._uri = tracking_uri
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._flushes = 0
        self._answers = b""  # what the process said and no flush has read yet
        self._local: StoreWriter | None = None

    def _start(self) -> subprocess.Popen[bytes] | None:
        if self._process is None and self._local is None:
            env = dict(os.environ, MLFLOW_TRACKING_URI=self._uri)
            env.pop(EXPORT_ENV, None)
            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "llmreg_pyfunc.trace_export"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                    process_group=0,
                )
            except OSError as exc:
                logger.warning("could not start the trace writer process: %s", exc)
                self._local = StoreWriter()
        return self._process

    def _send(self, message: dict[str, Any]) -> bool:
        process = self._start()
        if process is None or process.stdin is None:
            return False
        try:
            process.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            logger.warning("the trace writer process ended (%s); writing traces here", exc)
            self._local = StoreWriter()
            self._process = None
            return False
        return True

    def write(self, traces: Sequence[Trace]) -> None:
        """Send ``traces`` to the process (or write them here, see the class)."""
        with self._lock:
            if not self._send({"traces": list(traces)}):
                assert self._local is not None
                self._local.write(traces)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the process has written every trace sent so far; ``False`` when
        ``timeout`` passed first (waiting for a write in progress included)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            process = self._process
            if process is None or process.stdout is None:
                return True
            self._flushes += 1
            token = str(self._flushes).encode()
            if not self._send({"flush": self._flushes}):
                return True
            fd = process.stdout.fileno()
            while True:
                *lines, self._answers = self._answers.split(b"\n")  # older answers go
                if token in lines:
                    return True
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([fd], [], [], left)
                if not ready:
                    return False
                chunk = os.read(fd, 4096)
                if not chunk:  # the process ended
                    return False
                self._answers += chunk
        finally:
            self._lock.release()

    def close(self, timeout: float | None = None) -> None:
        """Close the process's input and wait for it to write what it holds and end;
        stop it when ``timeout`` passes first. Batches written after this are written in
        this process."""
        locked = self._lock.acquire(timeout=-1 if timeout is None else timeout)
        process, self._process = self._process, None
        self._local = self._local or StoreWriter()
        if locked:
            self._lock.release()
        if process is None:
            return
        try:
            if locked and process.stdin is not None:
                process.stdin.close()
                process.wait(timeout)
            else:  # a write is stuck on a full pipe: stopping the process frees it
                raise subprocess.TimeoutExpired(process.args, timeout or 0)
        except subprocess.TimeoutExpired:
            logger.warning("the trace writer process did not end in %s s; stopping it", timeout)
            process.kill()
            process.wait()
        except OSError as exc:
            logger.debug("closing the trace writer process: %s", exc)


Writer = StoreWriter | ProcessWriter
_WRITERS: dict[tuple[str, str], Writer] = {}
_WRITERS_LOCK = threading.Lock()
_CLOSED = False  # set by close_writers: no more helper processes


def _forget_writers_after_fork() -> None:
    """A forked child starts its own writers: its parent's pipe is not its to write."""
    global _WRITERS_LOCK, _CLOSED
    _WRITERS_LOCK = threading.Lock()
    _WRITERS.clear()
    _CLOSED = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writers_after_fork)


def export_mode() -> str:
    """``LLMREG_TRACE_EXPORT``, or ``thread`` when it is unset or unknown."""
    mode = os.environ.get(EXPORT_ENV, "").strip().lower()
    return mode if mode in _MODES else "thread"


#: Whether each tracking server (by URI) reads spans from its store, as this MLflow does.
_SERVERS: dict[str, bool] = {}


def _server_keeps_spans(uri: str) -> bool:
    """Whether the tracking server at ``uri`` is at least this MLflow's version (so it
    writes batches through ``log_spans`` and reads spans back from its store, as this
    client does): asked once per URI; ``False`` when it does not say."""
    if uri not in _SERVERS:
        import mlflow
        from packaging.version import Version

        from llmreg_mlflow.store.private import tracking_server_version

        try:
            server = tracking_server_version()
            _SERVERS[uri] = server is not None and Version(server) >= Version(mlflow.__version__)
        except Exception as exc:
            logger.debug("could not tell the tracking server's version: %s", exc)
            _SERVERS[uri] = False
    return _SERVERS[uri]


def writer(fallback: Callable[[list[Trace]], None] | None = None) -> Writer | None:
    """The writer for this process's tracking URI and mode, or ``None`` when traces
    must go through MLflow's own exporter (see the module)."""
    mode = export_mode()
    if mode == "mlflow":
        return None
    import mlflow

    from llmreg_mlflow.store import private

    if (
        private.trace_destination_is_set()
        or private.trace_context_is_set()
        or not private.store_keeps_spans()
    ):
        return None
    uri = mlflow.get_tracking_uri()
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in _HTTP_SCHEMES:
        if not _server_keeps_spans(uri):
            return None
        mode = "thread"  # the server does the store's work, in its own process
    elif scheme not in _SQL_SCHEMES:
        return None
    if os.name == "nt" or _CLOSED:  # no select on pipes; no new process at exit
        mode = "thread"
    key = (mode, uri)
    with _WRITERS_LOCK:
        found = _WRITERS.get(key)
        if found is None:
            found = ProcessWriter(uri) if mode == "process" else StoreWriter(fallback)
            _WRITERS[key] = found
    if isinstance(found, StoreWriter):
        if found.unsupported:
            return None  # MLflow's exporter from now on (its sampler, not ours too)
        found._fallback = fallback or found._fallback
    return found


def flush_writers(timeout: float | None = None) -> None:
    """Wait until every writer of this process has written what it was given."""
    for each in list(_WRITERS.values()):
        each.flush(timeout)


def close_writers(timeout: float | None = None, final: bool = False) -> None:
    """Flush and close every writer of this process; with ``final`` (at exit), traces
    recorded after this are written in this process (no new helper process starts)."""
    global _CLOSED
    with _WRITERS_LOCK:
        _CLOSED = _CLOSED or final
        writers = list(_WRITERS.values())
        _WRITERS.clear()
    for each in writers:
        each.close(timeout)


def _lower_priority() -> None:
    """Make this process background work: on Linux, ``SCHED_IDLE`` (it runs when no
    other process wants the CPU), elsewhere ``nice`` :data:`NICE`. A busy machine serves
    requests first; the pipe, then the recorder's queue, hold the traces meanwhile."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined,unused-ignore]
        return
    except (AttributeError, OSError):
        pass
    with contextlib.suppress(OSError):
        os.nice(NICE)


def main() -> None:
    """The helper process of :class:`ProcessWriter`: read JSON lines from standard
    input (``{"traces": [...]}`` or ``{"flush": N}``), write every batch read at once
    with a :class:`StoreWriter`, answer a flush with ``N`` on standard output once
    everything before it is written, and end when the input closes."""
    logging.basicConfig(level=logging.WARNING, format="llmreg trace writer: %(message)s")
    # the serving process's signals reach its process group: this process ends when its
    # input closes instead, after writing what it holds
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _lower_priority()
    store = StoreWriter()
    fd = sys.stdin.fileno()
    buffer = b""
    ended = False
    while not ended:
        chunk = os.read(fd, 1 << 20)
        ended = not chunk
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        pending: list[Trace] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError as exc:  # never expected: one writer per pipe
                store._lose(1, exc)
                continue
            if "flush" in message:
                store.write(pending)
                pending = []
                sys.stdout.write(f"{message['flush']}\n")
                sys.stdout.flush()
                continue
            pending.extend((str(e), spans) for e, spans in message["traces"])
            if len(pending) >= MAX_BATCH:
                store.write(pending)
                pending = []
        store.write(pending)
    if store.lost:
        logger.warning("%d trace(s) could not be recorded", store.lost)


__all__ = [
    "EXPORT_ENV",
    "MAX_BATCH",
    "ProcessWriter",
    "SpanSpec",
    "StoreWriter",
    "close_writers",
    "export_mode",
    "flush_writers",
    "main",
    "span_dicts",
    "writer",
]

if __name__ == "__main__":
    main()
