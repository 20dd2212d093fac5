"""Reading back the traces llmreg recorded, as MLflow users read them.

One place for what differs between the MLflow releases the tests run on:
``mlflow.search_traces`` takes ``locations=`` from 3.5 on and ``experiment_ids=``
before (3.17 refuses ``experiment_ids`` with a ``run_id``).
"""

from __future__ import annotations

import inspect
from typing import Any


def search_traces(experiment_id: str, run_id: str | None = None, flush: bool = True) -> list[Any]:
    """Every trace of the experiment (of ``run_id`` in it, if given), after llmreg has
    recorded and exported every trace queued so far (unless ``flush`` is false: a test
    of what exports them by itself)."""
    import mlflow

    from llmreg_pyfunc import tracing

    if flush:
        tracing.flush(120.0)
    extra: dict[str, Any] = {"return_type": "list"}
    if run_id is not None:
        extra["run_id"] = run_id
    if "locations" in inspect.signature(mlflow.search_traces).parameters:
        return list(mlflow.search_traces(locations=[experiment_id], **extra))
    return list(mlflow.search_traces([experiment_id], **extra))


def traced_experiment(experiment: str, monkeypatch: Any) -> str:
    """Create ``experiment``, make it the process's through ``MLFLOW_EXPERIMENT_NAME``
    (tracing follows MLflow's settings: ``LLMREG_TRACING`` unset); return its id."""
    import mlflow

    experiment_id = str(mlflow.MlflowClient().create_experiment(experiment))
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
    monkeypatch.delenv("LLMREG_TRACING", raising=False)
    return experiment_id
