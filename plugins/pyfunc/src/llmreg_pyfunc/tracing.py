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
thread has an active span or run, which the trace must attach to), and MLflow
exports them asynchronously (``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING``, on by default),
in batches of up to 512 spans (``MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE``,
set for the process unless already set: MLflow's default of 5 makes one store
transaction per 5 spans, most of the cost of a traced batch).
:func:`flush` waits for both (a process waits at exit); ``benchmarks/bench_tracing.py``
measures the cost.
llmreg's clients send requests with the openai SDK's generic ``post()``, which
``mlflow.openai.autolog()`` does not trace: a host with autolog on gets one trace
per prediction, not two.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from llmreg.adapter import ClientAdapter
from llmreg.client import Completion, StreamChunk
from llmreg.errors import ProviderError
from llmreg.schemas import Inputs, Outputs, Request
from llmreg.secrets import redact

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


def _clean(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret masked in every string it holds."""
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: _clean(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, secrets) for v in value]
    return value


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
    (its parent and its run are the calling thread's). A full queue records at once
    too (no trace is dropped). :func:`flush` waits for the queue; the process waits
    for it at exit (at most :data:`EXIT_WAIT_SECONDS`).
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=_QUEUE_BATCHES)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, item: tuple[Any, ...]) -> bool:
        """Queue one batch; ``False`` when it must be recorded by the caller."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="llmreg-trace-recorder", daemon=True
                )
                self._thread.start()
                _at_exit(lambda: self.flush(EXIT_WAIT_SECONDS))
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                _record_safely(*item)
            finally:
                self._queue.task_done()

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


#: Finished batches waiting for the recorder thread, at most (then the caller records).
_QUEUE_BATCHES = 10_000
#: How long a process waits at exit for the traces still queued.
EXIT_WAIT_SECONDS = 30.0
_RECORDER = _Recorder()


def flush(timeout: float | None = None) -> None:
    """Record every queued trace, then flush MLflow's asynchronous export, so that
    ``mlflow.search_traces`` sees every prediction made so far."""
    _RECORDER.flush(timeout)
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
    (see :class:`_Recorder`) unless the calling thread has an active span or run.
    Never raises: a failure to trace is logged at DEBUG and the prediction goes on.
    """
    _export_defaults()
    item = (adapter, rows, results, end_ns, start_ns)
    try:
        if not _in_context() and _RECORDER.submit(item):
            return
    except Exception as exc:
        logger.debug("could not queue the trace of a prediction: %s", exc)
    _record_safely(*item)


#: The experiment of a trace recorded outside any run, span or ``set_experiment``, by
#: (tracking URI, MLFLOW_EXPERIMENT_NAME, MLFLOW_EXPERIMENT_ID).
_EXPERIMENTS: dict[tuple[str, str | None, str | None], str | None] = {}


def _experiment_for_trace(parent: Any) -> str | None:
    """The experiment MLflow would give a new trace here, looked up once per tracking
    URI and experiment variables; ``None`` (MLflow decides) under a parent span, an
    active run, a trace destination or ``mlflow.set_experiment``, where its lookup is
    cheap or must decide. Without this, MLflow looks the default experiment up for every
    trace (``MLFLOW_EXPERIMENT_NAME``: a store query; else its Databricks notebook
    probes, failed imports): most of the recorder's time under ``llmreg serve --trace``.
    """
    if parent is not None:
        return None
    import mlflow
    from mlflow.tracking import fluent

    if getattr(fluent, "_active_experiment_id", None) or mlflow.active_run() is not None:
        return None
    try:
        from mlflow.tracing.provider import _MLFLOW_TRACE_USER_DESTINATION

        if _MLFLOW_TRACE_USER_DESTINATION.get() is not None:
            return None
    except (ImportError, AttributeError):
        return None
    get = getattr(fluent, "_get_experiment_id", None)
    if get is None:
        return None
    key = (
        mlflow.get_tracking_uri(),
        os.environ.get("MLFLOW_EXPERIMENT_NAME"),
        os.environ.get("MLFLOW_EXPERIMENT_ID"),
    )
    if key not in _EXPERIMENTS:
        _EXPERIMENTS[key] = get()
    return _EXPERIMENTS[key]


def _latency_ns(outcome: Any) -> int:
    if isinstance(outcome, Completion):
        return max(0, int(outcome.latency_ms * 1e6))
    return 0


def _record(
    adapter: ClientAdapter,
    rows: list[Request],
    results: list[Any],
    end_ns: int,
    batch_start_ns: int | None = None,
) -> None:
    import mlflow
    from mlflow.entities import SpanType

    definition = adapter.definition
    secrets = definition.resolved_secrets()
    info = adapter.info
    # what the whole batch shares is on the root span only: each request span carries
    # what is its own (the per-span work is most of tracing's cost)
    base = {"llmreg.provider": definition.provider, "llmreg.model": definition.model}
    base.update({f"llmreg.{k}": str(info[k]) for k in _INFO_KEYS if info.get(k) is not None})
    if batch_start_ns is not None:
        start_ns = batch_start_ns
    else:
        start_ns = min((end_ns - _latency_ns(r) for r in results), default=end_ns)
    parent = mlflow.get_current_active_span()
    root = mlflow.start_span_no_context(
        "llmreg.predict",
        span_type=SpanType.CHAIN,
        parent_span=parent,
        inputs={"rows": len(rows)},
        attributes=base,
        experiment_id=_experiment_for_trace(parent),
        start_time_ns=start_ns,
    )
    failed = 0
    system_prompt = definition.system_prompt
    for row, outcome in zip(rows, results, strict=False):
        messages = row.chat_messages(system_prompt)
        inputs: dict[str, Any] = {"messages": _clean(messages, secrets) if secrets else messages}
        if row.params is not None:
            inputs["params"] = row.params.model_dump(exclude_none=True)
        if batch_start_ns is not None or not isinstance(outcome, Completion):
            began = start_ns
        else:
            began = end_ns - _latency_ns(outcome)
        span = mlflow.start_span_no_context(
            "llmreg.request",
            span_type=SpanType.CHAT_MODEL,
            parent_span=root,
            inputs=inputs,
            start_time_ns=began,
        )
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
            span.end(
                outputs={"answer": _clean(outcome.text, secrets)},
                attributes=attributes,
                status="OK",
                end_time_ns=end_ns,
            )
        else:
            failed += 1
            error = outcome if isinstance(outcome, ProviderError) else None
            span.end(
                outputs=None,
                attributes={
                    "llmreg.error_type": type(outcome).__name__,
                    "llmreg.error": _clean(str(outcome), secrets)[:2000],
                    "llmreg.attempts": getattr(error, "attempts", None),
                    "llmreg.status_code": getattr(error, "status_code", None),
                },
                status="ERROR",
                end_time_ns=end_ns,
            )
    root.end(
        outputs={"answered": len(rows) - failed, "failed": failed},
        status="ERROR" if failed else "OK",
        end_time_ns=end_ns,
    )


class TracedAdapter(ClientAdapter):
    """The core's :class:`~llmreg.adapter.ClientAdapter` that records a trace of every
    prediction when tracing is wanted (:func:`tracing_wanted`), and fills the
    definition's prompt templates into every row (:mod:`llmreg_pyfunc.prompts`)."""

    def _prepare(
        self, inputs: Any, params: Mapping[str, Any] | None
    ) -> tuple[list[Request], bool, int]:
        rows, strict, concurrency = super()._prepare(inputs, params)
        definition = self.definition
        if definition.prompt is None and definition.user_template is None:
            return rows, strict, concurrency
        templates = getattr(self, "_llmreg_templates", None)
        if templates is None:
            from llmreg_pyfunc.prompts import Templates

            templates = Templates(definition)
            self._llmreg_templates = templates
        return templates.apply(rows), strict, concurrency

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
