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
sums), latency and status (``ERROR`` with the error type for a failed row). Every
form of the definition's secrets is masked in every text a span holds. MLflow
exports traces asynchronously (``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING``, on by default).
llmreg's clients send requests with the openai SDK's generic ``post()``, which
``mlflow.openai.autolog()`` does not trace: a host with autolog on gets one trace
per prediction, not two.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from llmreg.adapter import ClientAdapter
from llmreg.client import Completion
from llmreg.errors import ProviderError
from llmreg.schemas import Outputs, Request
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


def record_trace(
    adapter: ClientAdapter, rows: list[Request], results: list[Any], end_ns: int
) -> None:
    """Record one trace of a batch: a root span and one span per request.

    Never raises: a failure to trace is logged at DEBUG and the prediction goes on.
    """
    try:
        _record(adapter, rows, results, end_ns)
    except Exception as exc:
        logger.debug("could not record the trace of a prediction: %s", exc)


def _latency_ns(outcome: Any) -> int:
    if isinstance(outcome, Completion):
        return max(0, int(outcome.latency_ms * 1e6))
    return 0


def _record(adapter: ClientAdapter, rows: list[Request], results: list[Any], end_ns: int) -> None:
    import mlflow
    from mlflow.entities import SpanType

    definition = adapter.definition
    secrets = definition.resolved_secrets()
    info = adapter.info
    described = {k: str(info[k]) for k in _INFO_KEYS if info.get(k) is not None}
    base = {"llmreg.provider": definition.provider, "llmreg.model": definition.model}
    base.update({f"llmreg.{k}": v for k, v in described.items()})
    start_ns = min((end_ns - _latency_ns(r) for r in results), default=end_ns)
    root = mlflow.start_span_no_context(
        "llmreg.predict",
        span_type=SpanType.CHAIN,
        parent_span=mlflow.get_current_active_span(),
        inputs={"rows": len(rows)},
        attributes=base,
        start_time_ns=start_ns,
    )
    failed = 0
    for row, outcome in zip(rows, results, strict=False):
        messages = row.chat_messages(definition.system_prompt)
        inputs: dict[str, Any] = {"messages": _clean(messages, secrets)}
        if row.params is not None:
            inputs["params"] = row.params.model_dump(exclude_none=True)
        began = end_ns - _latency_ns(outcome) if isinstance(outcome, Completion) else start_ns
        span = mlflow.start_span_no_context(
            "llmreg.request",
            span_type=SpanType.CHAT_MODEL,
            parent_span=root,
            inputs=inputs,
            attributes=base,
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

    def _finish(self, rows: list[Request], strict: bool, results: list[Any]) -> Outputs:
        if not isinstance(results, list) or not tracing_wanted(self.definition.tracing):
            return super()._finish(rows, strict, results)
        end_ns = time.time_ns()
        try:
            return super()._finish(rows, strict, results)
        finally:
            record_trace(self, rows, results, end_ns)


__all__ = ["TRACING_ENV", "TracedAdapter", "record_trace", "tracing_wanted"]
