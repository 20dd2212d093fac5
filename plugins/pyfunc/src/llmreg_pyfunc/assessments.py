"""The rows of ``llmreg evaluate`` as MLflow traces with assessments, in the evaluation run.

``mlflow.genai.evaluate`` keeps its results where MLflow's UI shows them: one trace
per row of the dataset, linked to the evaluation run (the run's Traces/Evaluations
tab, ``mlflow.search_traces(run_id=...)``), with the expected answer as an
expectation and each scorer's result as a feedback assessment on the trace.
``llmreg evaluate`` predicts and scores the rows itself (one concurrent batch, the
built-in code scorers, failed rows as 0, the metrics it prints and keeps on the
version), so :func:`log_row_results` writes the same records through MLflow's own
API from what it computed, without predicting or scoring again:

- a trace named ``llmreg.evaluate`` per row: a root span (``CHAIN``) whose inputs are
  the row and outputs the answer, with the model URI, registered name and version
  and the row's index as attributes; a failed row's span has status ``ERROR`` and
  its error; the trace belongs to the run and to the logged model;
- ``mlflow.log_expectation(name="expected_response")``: the row's ``expected``;
- ``mlflow.log_feedback`` per scorer: ``name`` the metric, ``value`` what the scorer
  said (``True``/``False`` for the built-in scorers, ``"yes"``/``"no"`` for a judge,
  a number...), its ``rationale``, ``source`` ``CODE`` (source id: the scorer) or
  ``LLM_JUDGE`` (source id: the judge's model); a scorer that failed on the row is a
  feedback with an ``error`` (``SCORER_ERROR``).

The traces are written synchronously (as the harness of ``mlflow.genai.evaluate``
does), so the assessments can be logged at once. The records arrive with every
secret already masked (``llmreg evaluate`` masks them). Where this MLflow lacks the
assessment API or tracing is disabled (``mlflow.tracing.disable()``), the rows are
not logged (a DEBUG log line says why); the metrics and tags are unaffected.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

#: The name of each row's trace (and root span).
TRACE_NAME = "llmreg.evaluate"
#: The expectation holding a row's expected answer (MLflow's scorers' key).
EXPECTATION = "expected_response"
#: The assessments' metadata key naming the evaluation run (MLflow's own key).
SOURCE_RUN_KEY = "mlflow.assessment.sourceRunId"


def _api() -> Any:
    """MLflow's assessment and tracing pieces, or ``None`` (with the reason logged)."""
    try:
        import mlflow
        from mlflow.entities import AssessmentError, AssessmentSource
        from mlflow.pyfunc.context import Context, set_prediction_context
        from mlflow.tracing.provider import is_tracing_enabled

        functions = (mlflow.log_feedback, mlflow.log_expectation, mlflow.start_span)
    except (ImportError, AttributeError) as exc:
        logger.debug("evaluation rows not logged as traces: this MLflow lacks %s", exc)
        return None
    if not is_tracing_enabled():
        logger.debug("evaluation rows not logged as traces: MLflow tracing is disabled")
        return None
    return mlflow, AssessmentError, AssessmentSource, Context, set_prediction_context, functions


def _row_trace(api: Any, index: int, row: Mapping[str, Any], attributes: dict[str, Any]) -> Any:
    """Write the trace of one row (synchronously); return its root span."""
    mlflow, _, _, context_type, set_prediction_context, _ = api
    context = context_type(
        request_id=f"llmreg-eval-{uuid.uuid4().hex}",
        is_evaluate=True,
        model_id=attributes.pop("model_id", None),
    )
    with (
        set_prediction_context(context),
        mlflow.start_span(name=TRACE_NAME, span_type="CHAIN") as span,
    ):
        span.set_inputs(dict(row.get("inputs") or {}))
        span.set_outputs(row.get("outputs"))
        span.set_attributes({**attributes, "llmreg.row": index})
        if row.get("error") is not None:
            span.set_attribute("llmreg.error", str(row["error"])[:2000])
            span.set_status("ERROR")
    return span


def _log_row(api: Any, span: Any, row: Mapping[str, Any], run_id: str) -> None:
    """The expectation and every feedback of one row, on its trace's root span."""
    mlflow, error_type, source_type, _, _, _ = api
    where = {"trace_id": span.trace_id, "span_id": span.span_id}
    metadata = {SOURCE_RUN_KEY: run_id}
    mlflow.log_expectation(**where, name=EXPECTATION, value=row.get("expected"), metadata=metadata)
    for said in row.get("feedback") or []:
        source = source_type(
            source_type=str(said.get("source_type") or "CODE"),
            source_id=str(said.get("source_id") or said["name"]),
        )
        if said.get("error") is not None:
            mlflow.log_feedback(
                **where,
                name=str(said["name"]),
                source=source,
                error=error_type(error_code="SCORER_ERROR", error_message=str(said["error"])),
                metadata=metadata,
            )
            continue
        mlflow.log_feedback(
            **where,
            name=str(said["name"]),
            value=said.get("value"),
            rationale=said.get("rationale"),
            source=source,
            metadata=metadata,
        )


def log_row_results(
    results: Sequence[Mapping[str, Any]],
    run_id: str,
    info: Mapping[str, Any],
    model_id: str | None = None,
) -> int:
    """Log each row of ``results`` as a trace of the active run ``run_id`` with its
    assessments (see the module); return how many rows were logged.

    ``results`` is what ``llmreg evaluate`` hands the loader
    (:func:`llmreg_pyfunc.evaluate_cli.row_results`); ``info`` the loaded model's info (model
    URI, registered name and version); ``model_id`` the logged model the traces
    belong to. A row MLflow refuses is skipped with a warning (the metrics stand).
    """
    api = _api()
    if api is None or not results:
        return 0
    attributes = {
        f"llmreg.{key}": str(info[key])
        for key in ("model_uri", "name", "version")
        if info.get(key) is not None
    }
    logged = 0
    for index, row in enumerate(results):
        try:
            span = _row_trace(api, index, row, {**attributes, "model_id": model_id})
            if not getattr(span, "trace_id", None) or not getattr(span, "span_id", None):
                logger.debug("evaluation rows not logged as traces: no trace was recorded")
                return logged
            _log_row(api, span, row, run_id)
        except Exception as exc:
            logger.warning("row %d of the evaluation not logged as a trace: %s", index, exc)
            continue
        logged += 1
    return logged


__all__ = ["EXPECTATION", "SOURCE_RUN_KEY", "TRACE_NAME", "log_row_results"]
