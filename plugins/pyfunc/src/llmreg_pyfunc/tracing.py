"""MLflow traces of predictions: one trace per ``predict`` call, one span per request.

Every prediction of a llmreg pyfunc model passes through :class:`TracedAdapter`
(the loader's :class:`~llmreg_pyfunc.loader.LoadedAdapter` and the pyfunc model
MLflow loads both answer through it), so the Python API, ``mlflow.pyfunc.load_model``,
``mlflow models serve``, ``llmreg predict`` and ``llmreg serve`` are traced alike.

Whether a call is traced (:func:`tracing_wanted`), first match wins:

1. ``LLMREG_TRACING`` in the environment (``1``/``true``/``on`` or ``0``/``false``/``off``):
   the switch for the CLI and the serving app;
2. the definition's ``tracing`` (``true`` or ``false``);
3. MLflow's own settings: tracing enabled (``mlflow.tracing.enable``/``disable``) and a
   place chosen for traces: an experiment set (``mlflow.set_experiment``,
   ``MLFLOW_EXPERIMENT_NAME``/``_ID``), an active run, or an active span of the host
   (``@mlflow.trace``), under which the trace then nests.

A trace holds a root span ``llmreg.predict`` (rows, model URI, registered name,
version, alias, run) and one ``CHAT_MODEL`` span per request: the input messages
(system prompt included), the answer, the provider's model actually used,
attempts, fallback index, token usage (``mlflow.chat.tokenUsage``, which the UI
sums), latency and status (``ERROR`` with the error type for a failed row); a
streamed answer (:meth:`TracedAdapter.astream`, ``llmreg serve`` with ``"stream":
true``) is one such trace, ended with the stream. Every form of the definition's
secrets is masked in every text a span holds.

Tracing stays off the prediction's path: the spans carry the times measured during
the prediction, so a background thread builds them after it (unless the caller's
thread has an active span or run, which the trace must attach to), and writes the
traces waiting at that moment in one batch (:mod:`llmreg_pyfunc.trace_export`: the
store's ``log_spans``, in this process or, under ``llmreg serve``, in a helper
process at idle priority). Where batches do not apply (a host's span or run, a store
without ``log_spans``, ``LLMREG_TRACE_EXPORT=mlflow``), MLflow's own tracer records the
trace and exports it asynchronously, in batches of up to 512 spans
(``MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE``, set for the process unless already
set: MLflow's default of 5 makes one store transaction per 5 spans).
:func:`flush` waits for all of it (a process waits at exit); ``benchmarks/bench_tracing.py``
and ``benchmarks/bench_serve.py --trace`` measure the cost.
llmreg's clients send requests with the openai SDK's generic ``post()``, which
``mlflow.openai.autolog()`` does not trace: a host with autolog on gets one trace
per prediction, not two.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import random
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from llmreg.adapter import ClientAdapter
from llmreg.client import Completion, StreamChunk
from llmreg.errors import ProviderError
from llmreg.schemas import Inputs, Outputs, Request
from llmreg.secrets import redact, redact_deep
from llmreg_pyfunc import trace_export
from llmreg_pyfunc.trace_export import SpanSpec

logger = logging.getLogger(__name__)

#: The environment switch for the CLI and the serving app (overrides the definition).
TRACING_ENV = "LLMREG_TRACING"
_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})
#: The keys of an adapter's ``info`` a trace carries.
_INFO_KEYS = ("model_uri", "name", "version", "alias", "run_id")


def _mlflow_default() -> bool:
    import mlflow
    from mlflow.tracing.provider import is_tracing_enabled

    from llmreg_mlflow.store.private import experiment_is_set

    if not is_tracing_enabled():
        return False
    return bool(
        experiment_is_set()
        or mlflow.active_run() is not None
        or mlflow.get_current_active_span() is not None
    )


def tracing_wanted(tracing: bool | None) -> bool:
    """Whether a prediction is traced, given the definition's ``tracing`` (see the module)."""
    switch = os.environ.get(TRACING_ENV, "").strip().lower()
    if switch in _ON:
        return True
    if switch in _OFF:
        return False
    if tracing is not None:
        return tracing
    try:
        return _mlflow_default()
    except Exception:
        return False


def _at_exit(drain: Any) -> None:
    """Run ``drain`` when the main thread ends, before ``atexit`` handlers: OpenTelemetry's
    provider and MLflow's export queue flush in theirs, so the queued spans must reach
    them first (``threading._register_atexit``, as ``concurrent.futures`` uses; plain
    ``atexit`` where it is missing)."""
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(drain)
            return
    except RuntimeError:  # the interpreter is already shutting down
        return
    atexit.register(drain)


class _Recorder:
    """One background thread that builds the spans of finished predictions.

    Every span gets its times from the prediction itself (start and end in ns), so
    it can be built later, off the prediction's path: the caller only queues the
    batch. A prediction inside a host's span or an active run is recorded at once
    (its parent and its run are the calling thread's). When the queue is full (the
    machine cannot write traces as fast as it answers), a new trace is dropped and
    counted (:attr:`dropped`, a warning at the first and every 1000th) rather than
    slowing the predictions down. :func:`flush` waits for the queue; the process waits
    for it at exit (at most :data:`EXIT_WAIT_SECONDS`, then says how many are lost).
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=_QUEUE_BATCHES)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Traces dropped because the queue was full.
        self.dropped = 0

    def submit(self, item: tuple[Any, ...]) -> bool:
        """Queue one batch; ``False`` (and counted) when the queue is full."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="llmreg-trace-recorder", daemon=True
                )
                self._thread.start()
                _at_exit(_drain_at_exit)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                logger.warning(
                    "%d trace(s) dropped so far: %d are waiting to be written, more than "
                    "this machine writes while it answers. Trace fewer predictions "
                    "(MLFLOW_TRACE_SAMPLING_RATIO) or send them to a tracking server.",
                    self.dropped,
                    _QUEUE_BATCHES,
                )
            return False
        return True

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < trace_export.MAX_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                _record_batch(items)
            finally:
                for _ in items:
                    self._queue.task_done()

    def pending(self) -> int:
        """How many batches are queued or being recorded."""
        return int(self._queue.unfinished_tasks)

    def busy(self) -> bool:
        """Whether batches are queued or being recorded."""
        return bool(self._queue.unfinished_tasks)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued batch is recorded; ``False`` when ``timeout`` passed."""
        if self._thread is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


#: Finished batches waiting for the recorder thread, at most (then new ones are dropped).
_QUEUE_BATCHES = 10_000
#: How long a process waits at exit for the traces still queued.
EXIT_WAIT_SECONDS = 30.0
_RECORDER = _Recorder()


def _new_recorder_after_fork() -> None:
    """A forked child records its own traces: its parent's queue (and its lock, which
    the fork may have caught held) is not the child's."""
    global _RECORDER, _pending
    _RECORDER = _Recorder()
    _pending = threading.Event()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_recorder_after_fork)


def _drain_at_exit() -> None:
    """At exit: record the queued traces, then let the batch writers finish theirs."""
    if not _RECORDER.flush(EXIT_WAIT_SECONDS):
        logger.warning(
            "%d trace(s) still queued after %s s are lost at exit",
            _RECORDER.pending(),
            EXIT_WAIT_SECONDS,
        )
    trace_export.close_writers(EXIT_WAIT_SECONDS, final=True)


def flush(timeout: float | None = None) -> None:
    """Record every queued trace, then flush MLflow's asynchronous export, so that
    ``mlflow.search_traces`` sees every prediction made so far."""
    _RECORDER.flush(timeout)
    trace_export.flush_writers(timeout)
    import mlflow

    flush_export = getattr(mlflow, "flush_trace_async_logging", None)
    if flush_export is not None:
        flush_export()


def _in_context() -> bool:
    """Whether the calling thread has a span or a run the trace must attach to."""
    import mlflow

    return mlflow.get_current_active_span() is not None or mlflow.active_run() is not None


#: Set when a trace was recorded since the last :func:`flush`.
_pending = threading.Event()


def _record_safely(*args: Any) -> None:
    try:
        _record(*args)
        _pending.set()
    except Exception as exc:
        logger.debug("could not record the trace of a prediction: %s", exc)


def flush_pending() -> None:
    """:func:`flush`, when a trace was recorded or queued since the last one (else
    nothing: closing an untraced model costs nothing). A closing adapter calls it, so
    that a server stopped by a signal (uvicorn re-raises it after its shutdown, and
    the process ends without ``atexit``) still exports its last traces."""
    if _pending.is_set() or _RECORDER.busy():
        _pending.clear()
        try:
            flush(EXIT_WAIT_SECONDS)
        except Exception as exc:
            logger.debug("could not flush the traces: %s", exc)
        if _RECORDER.busy():
            logger.warning(
                "%d trace(s) still queued after %s s; they are lost if the process ends now",
                _RECORDER.pending(),
                EXIT_WAIT_SECONDS,
            )


#: MLflow exports the spans of a trace in batches of this many (its default is 5: one
#: store transaction per 5 spans). Set for the process unless the user set it, before
#: the first span; a host that set up tracing already keeps its own.
SPAN_BATCH_ENV = "MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE"
SPAN_BATCH_DEFAULT = "512"
_defaults_set = False


def _export_defaults() -> None:
    global _defaults_set
    if not _defaults_set:
        _defaults_set = True
        os.environ.setdefault(SPAN_BATCH_ENV, SPAN_BATCH_DEFAULT)


def record_trace(
    adapter: ClientAdapter,
    rows: list[Request],
    results: list[Any],
    end_ns: int,
    start_ns: int | None = None,
) -> None:
    """Record one trace of a batch: a root span and one span per request.

    ``start_ns`` is when the batch began (a streamed answer); else each request's
    start is its end less its latency. The spans are built by a background thread
    (see :class:`_Recorder`; dropped when its queue is full) unless the calling
    thread has an active span or run.
    Never raises: a failure to trace is logged at DEBUG and the prediction goes on.
    """
    _export_defaults()
    item = (adapter, rows, results, end_ns, start_ns)
    try:
        if not _in_context():
            _RECORDER.submit(item)  # a full queue drops it (see _Recorder)
            return
    except Exception as exc:
        logger.debug("could not queue the trace of a prediction: %s", exc)
    _record_safely(*item)


#: The experiment of a trace recorded outside any run, span or ``set_experiment``, by
#: (tracking URI, MLFLOW_EXPERIMENT_NAME, MLFLOW_EXPERIMENT_ID).
_EXPERIMENTS: dict[tuple[str, str | None, str | None], str] = {}


def _experiment_for_trace(parent: Any) -> str | None:
    """The experiment of a new trace outside any span or run: the one chosen with
    ``mlflow.set_experiment``, else MLflow's default lookup, done once per tracking URI
    and experiment variables. ``None`` (MLflow decides) under a parent span, an active
    run or a trace destination. Without the cache, MLflow looks the default experiment
    up for every trace (``MLFLOW_EXPERIMENT_NAME``: a store query; else its Databricks
    notebook probes, failed imports): most of the recorder's time under ``llmreg serve
    --trace`` before.
    """
    if parent is not None:
        return None
    import mlflow

    from llmreg_mlflow.store import private

    if mlflow.active_run() is not None or private.trace_destination_is_set():
        return None
    chosen = private.chosen_experiment_id()
    if chosen is not None:
        return chosen
    key = (
        mlflow.get_tracking_uri(),
        os.environ.get("MLFLOW_EXPERIMENT_NAME"),
        os.environ.get("MLFLOW_EXPERIMENT_ID"),
    )
    if key not in _EXPERIMENTS:
        _EXPERIMENTS[key] = private.active_experiment_id()
    return _EXPERIMENTS[key]


def _latency_ns(outcome: Any) -> int:
    if isinstance(outcome, Completion):
        return max(0, int(outcome.latency_ms * 1e6))
    return 0


def _specs(
    adapter: ClientAdapter,
    rows: list[Request],
    results: list[Any],
    end_ns: int,
    batch_start_ns: int | None = None,
) -> list[SpanSpec]:
    """The spans of one prediction's trace: the root ``llmreg.predict`` first, then one
    ``llmreg.request`` per row (see the module for what each holds)."""
    definition = adapter.definition
    secrets = definition.resolved_secrets()
    info = adapter.info
    # what the whole batch shares is on the root span only: each request span carries
    # what is its own (the per-span work is most of tracing's cost)
    base: dict[str, Any] = {
        "llmreg.provider": definition.provider,
        "llmreg.model": definition.model,
    }
    base.update({f"llmreg.{k}": str(info[k]) for k in _INFO_KEYS if info.get(k) is not None})
    if batch_start_ns is not None:
        start_ns = batch_start_ns
    else:
        start_ns = min((end_ns - _latency_ns(r) for r in results), default=end_ns)
    specs = [SpanSpec("llmreg.predict", "CHAIN", start_ns, end_ns, {"rows": len(rows)}, None)]
    failed = 0
    system_prompt = definition.system_prompt
    for row, outcome in zip(rows, results, strict=False):
        messages = row.chat_messages(system_prompt)
        inputs: dict[str, Any] = {"messages": redact_deep(messages, secrets)}
        if row.params is not None:
            inputs["params"] = row.params.model_dump(exclude_none=True)
        if batch_start_ns is not None or not isinstance(outcome, Completion):
            began = start_ns
        else:
            began = end_ns - _latency_ns(outcome)
        if isinstance(outcome, Completion):
            attributes: dict[str, Any] = {
                "llmreg.model_used": outcome.model,
                "llmreg.attempts": outcome.attempts,
                "llmreg.fallback_index": outcome.extra.get("fallback_index", 0),
                "llmreg.latency_ms": round(outcome.latency_ms, 3),
                "llmreg.finish_reason": outcome.finish_reason,
            }
            if outcome.prompt_tokens is not None or outcome.completion_tokens is not None:
                attributes["mlflow.chat.tokenUsage"] = {
                    "input_tokens": outcome.prompt_tokens or 0,
                    "output_tokens": outcome.completion_tokens or 0,
                    "total_tokens": outcome.total_tokens
                    or (outcome.prompt_tokens or 0) + (outcome.completion_tokens or 0),
                }
            outputs: Any = {"answer": redact_deep(outcome.text, secrets)}
            status = "OK"
        else:
            failed += 1
            error = outcome if isinstance(outcome, ProviderError) else None
            attributes = {
                "llmreg.error_type": type(outcome).__name__,
                "llmreg.error": redact(str(outcome), secrets)[:2000],
                "llmreg.attempts": getattr(error, "attempts", None),
                "llmreg.status_code": getattr(error, "status_code", None),
            }
            outputs, status = None, "ERROR"
        specs.append(
            SpanSpec(
                "llmreg.request",
                "CHAT_MODEL",
                began,
                end_ns,
                inputs,
                outputs,
                status,
                attributes,
                parent=0,
            )
        )
    root = specs[0]
    root.attributes = base
    root.outputs = {"answered": len(rows) - failed, "failed": failed}
    root.status = "ERROR" if failed else "OK"
    return specs


def _record_with_mlflow(specs: list[SpanSpec], parent: Any = None) -> None:
    """Record one trace through MLflow's own tracer and exporter: under ``parent`` (a
    host's span), in the calling thread's run, or where no batch writer applies."""
    import mlflow

    root_spec = specs[0]
    root = mlflow.start_span_no_context(
        root_spec.name,
        span_type=root_spec.span_type,
        parent_span=parent,
        inputs=root_spec.inputs,
        attributes=root_spec.attributes,
        experiment_id=_experiment_for_trace(parent),
        start_time_ns=root_spec.start_ns,
    )
    for spec in specs[1:]:
        span = mlflow.start_span_no_context(
            spec.name,
            span_type=spec.span_type,
            parent_span=root,
            inputs=spec.inputs,
            attributes={k: v for k, v in spec.attributes.items() if v is not None},
            start_time_ns=spec.start_ns,
        )
        span.end(outputs=spec.outputs, status=spec.status, end_time_ns=spec.end_ns)
    root.end(outputs=root_spec.outputs, status=root_spec.status, end_time_ns=root_spec.end_ns)


def _record(*item: Any) -> None:
    """Record one trace in the calling thread: nested under its active span, if any."""
    import mlflow

    _record_with_mlflow(_specs(*item), mlflow.get_current_active_span())


def _fallback(traces: list[trace_export.Trace]) -> None:
    """Where a store refuses batches: record these traces through MLflow's exporter."""
    from mlflow.entities import Span

    for _, spans in traces:
        built = [Span.from_dict(d) for d in spans]
        specs = [
            SpanSpec(
                s.name,
                str(s.span_type),
                s.start_time_ns,
                s.end_time_ns or s.start_time_ns,
                s.inputs,
                s.outputs,
                s.status.status_code.value,
                {k: v for k, v in s.attributes.items() if k.startswith(("llmreg.", "mlflow.chat"))},
                None if s.parent_id is None else 0,
            )
            for s in built
        ]
        _record_with_mlflow(specs)


def _sampling_ratio() -> float:
    """``MLFLOW_TRACE_SAMPLING_RATIO`` (which MLflow's sampler applies on its own path),
    1.0 when unset or not a number."""
    try:
        from mlflow.environment_variables import MLFLOW_TRACE_SAMPLING_RATIO

        return float(MLFLOW_TRACE_SAMPLING_RATIO.get())  # type: ignore[no-untyped-call, unused-ignore]
    except Exception as exc:
        logger.debug("MLFLOW_TRACE_SAMPLING_RATIO ignored: %s", exc)
        return 1.0


def _record_batch(items: list[tuple[Any, ...]]) -> None:
    """Record the traces of several finished predictions (the recorder thread's work):
    in one batch through :mod:`llmreg_pyfunc.trace_export` where it applies, else one by
    one through MLflow's exporter. Never raises."""
    try:
        writer = trace_export.writer(_fallback)
        experiment = _experiment_for_trace(None) if writer is not None else None
    except Exception as exc:
        logger.debug("could not choose how to export traces: %s", exc)
        writer, experiment = None, None
    if writer is None or experiment is None:
        for item in items:
            _record_safely(*item)
        return
    ratio = _sampling_ratio()
    traces: list[trace_export.Trace] = []
    for item in items:
        if ratio < 1.0 and random.random() >= ratio:  # noqa: S311 (sampling, not secrecy)
            continue
        try:
            traces.append((experiment, trace_export.span_dicts(_specs(*item))))
        except Exception as exc:
            logger.debug("could not build the trace of a prediction: %s", exc)
    try:
        writer.write(traces)
        _pending.set()
    except Exception as exc:
        logger.debug("could not record %d trace(s): %s", len(traces), exc)


class TracedAdapter(ClientAdapter):
    """The core's :class:`~llmreg.adapter.ClientAdapter` that records a trace of every
    prediction when tracing is wanted (:func:`tracing_wanted`), and reads a definition's
    Prompt Registry reference (:func:`llmreg_pyfunc.prompts.load`)."""

    def resolve_prompt(self, reference: str) -> str:
        """The ``{name}`` template of a ``prompts:/`` reference, from MLflow's Prompt Registry."""
        from llmreg_pyfunc.prompts import load

        return load(reference).template

    async def astream(
        self, request: Request, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Stream one row's answer (``llmreg serve`` with ``"stream": true``), recording a
        trace of it when tracing is wanted: its span ends when the stream does, with the
        whole answer, or the error (``ERROR``; a stream the caller left early is
        ``GeneratorExit``/``CancelledError``)."""
        if not tracing_wanted(self.definition.tracing):
            async for chunk in super().astream(request, params):
                yield chunk
            return
        start_ns = time.time_ns()
        rows, _, _ = self._prepare(Inputs(rows=[request]), params)
        outcome: Any = None
        try:
            async for chunk in self.client.astream(rows[0]):
                if chunk.done is not None:
                    outcome = chunk.done
                yield chunk
        except BaseException as exc:
            if outcome is None:  # a caller leaving after the last chunk ended well
                outcome = exc
            raise
        finally:
            if outcome is None:
                outcome = ProviderError("the stream ended without its last chunk")
            record_trace(self, rows, [outcome], time.time_ns(), start_ns)

    def close(self) -> None:
        """Release the client, then export the traces still pending (:func:`flush_pending`)."""
        try:
            super().close()
        finally:
            flush_pending()

    async def aclose(self) -> None:
        """Async form of :meth:`close` (the flush runs in a worker thread)."""
        try:
            await super().aclose()
        finally:
            import asyncio

            await asyncio.to_thread(flush_pending)

    def _finish(self, rows: list[Request], strict: bool, results: list[Any]) -> Outputs:
        if not isinstance(results, list) or not tracing_wanted(self.definition.tracing):
            return super()._finish(rows, strict, results)
        end_ns = time.time_ns()
        try:
            return super()._finish(rows, strict, results)
        finally:
            record_trace(self, rows, results, end_ns)


__all__ = [
    "EXIT_WAIT_SECONDS",
    "TRACING_ENV",
    "TracedAdapter",
    "flush",
    "flush_pending",
    "record_trace",
    "tracing_wanted",
]
