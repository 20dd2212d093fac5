"""Every use of an MLflow name that is not public API, in one place.

Each function says which private (or undocumented) name it uses, what the public
alternative is, or why there is none. The upper bound on ``mlflow`` in the
pyprojects of llmreg-mlflow and llmreg-pyfunc is the newest release these were
checked against; the ``mlflow-oldest`` tox env runs the suites on the lower bound.

Nothing else in llmreg-mlflow or llmreg-pyfunc reaches into MLflow's internals:
model URIs are parsed by :mod:`llmreg.uris` (not ``mlflow.store.artifact.utils.models.
_parse_model_uri``), and a store's URIs are kept beside its client
(:class:`~llmreg_mlflow.store.resolve.Store`), not read back from
``MlflowClient._tracking_client`` or ``MlflowClient._registry_uri``.
"""

from __future__ import annotations

from typing import Any


def active_experiment_id() -> str:
    """Return the id of the experiment MLflow's fluent API would log into now.

    Private name: ``mlflow.tracking.fluent._get_experiment_id``. It resolves the
    experiment set by ``mlflow.set_experiment``, then ``MLFLOW_EXPERIMENT_ID`` /
    ``MLFLOW_EXPERIMENT_NAME``, then the default experiment. There is no public
    getter for that resolution: ``mlflow.set_experiment`` returns the experiment but
    nothing reads it back, and ``mlflow.active_run()`` needs a started run, which a
    saver that creates its own run (through ``MlflowClient``) has not got.
    """
    from mlflow.tracking.fluent import _get_experiment_id

    return str(_get_experiment_id() or "0")


def chosen_experiment_id() -> str | None:
    """Return the id of the experiment ``mlflow.set_experiment`` chose in this process,
    or ``None``.

    Private name: ``mlflow.tracking.fluent._active_experiment_id`` (read with
    ``getattr``: missing in a future MLflow, this says ``None`` and callers fall back to
    :func:`active_experiment_id`). There is no public getter.
    """
    from mlflow.tracking import fluent

    chosen = getattr(fluent, "_active_experiment_id", None)
    return str(chosen) if chosen else None


def experiment_is_set() -> bool:
    """Return whether an experiment was chosen in this process or its environment.

    True after ``mlflow.set_experiment`` (private name:
    ``mlflow.tracking.fluent._active_experiment_id``, read with ``getattr`` so that a
    future MLflow without it only loses that case) or with ``MLFLOW_EXPERIMENT_NAME`` or
    ``MLFLOW_EXPERIMENT_ID`` set. There is no public way to tell a chosen experiment from
    the ``Default`` fallback.
    """
    import os

    if chosen_experiment_id() is not None:
        return True
    return bool(os.environ.get("MLFLOW_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_ID"))


def registry_uri_override() -> str | None:
    """Return the registry URI set by ``mlflow.set_registry_uri`` in this process, if any.

    Private name: ``mlflow.tracking._model_registry.utils._registry_uri``. The public
    alternative, ``mlflow.get_registry_uri()``, resolves the URI (tracking URI,
    environment, Databricks profile) and costs about 0.3 ms, ten times a warm
    ``CustomLoader.load``; the loader's cache key needs only to tell stores apart, and
    the raw inputs of that resolution do. Missing in a future MLflow, this returns
    ``None`` and the key falls back to the tracking URI and ``MLFLOW_REGISTRY_URI``.
    """
    from mlflow.tracking._model_registry import utils as registry_utils

    value = getattr(registry_utils, "_registry_uri", None)
    return value if isinstance(value, str) else None


def log_model_with_flavor(flavor: Any, **kwargs: Any) -> Any:
    """Log a model through ``mlflow.models.Model.log`` with ``flavor`` saving its files.

    ``Model.log`` and its ``flavor`` argument are public, but what it does with the
    flavor is not documented: it calls ``flavor.save_model(path=..., mlflow_model=...,
    **kwargs)`` into a temporary folder, then uploads that folder, and it reads (and
    passes on) ``kwargs["validate_serving_input"]``. llmreg-pyfunc relies on that to
    scan the saved folder for secrets *before* the upload and to keep MLflow from
    calling ``predict`` (the LLM endpoint) on the input example. The public
    alternative, ``mlflow.pyfunc.log_model``, offers neither.

    Returns:
        MLflow's ``ModelInfo``.
    """
    from mlflow.models import Model

    return Model.log(flavor=flavor, **kwargs)


__all__ = [
    "active_experiment_id",
    "experiment_is_set",
    "log_model_with_flavor",
    "registry_uri_override",
]


def log_spans(experiment_id: str, spans: list[Any]) -> None:
    """Write finished spans, of one trace or many, to the tracking store in one call.

    Semi-private name: ``mlflow.tracing.client.TracingClient.log_spans`` (the module is
    not underscored, but the class is not in MLflow's API docs). It calls the store's
    ``log_spans``, which MLflow's own exporter and its OTLP endpoint use: a SQL store
    writes the batch in one transaction (MLflow 3.4's takes one trace a call and says
    so), a REST store posts it to the server's OTLP endpoint, and other stores raise
    ``NotImplementedError``. There is no public call that writes a finished span.
    """
    from mlflow.tracing.client import TracingClient

    TracingClient().log_spans(experiment_id, spans)


def store_keeps_spans() -> bool:
    """Return whether this MLflow reads a trace's spans from the tracking store.

    Checked by the name ``mlflow.tracing.constant.TraceTagKey.SPANS_LOCATION`` (the tag
    that says where a trace's spans are). Before it, as in MLflow 3.4, a client read
    spans only from the trace's artifact (``traces.json``), which ``log_spans`` does not
    write: traces written with :func:`log_spans` alone would have no spans there.
    """
    from mlflow.tracing.constant import TraceTagKey

    return hasattr(TraceTagKey, "SPANS_LOCATION")


def trace_destination_is_set() -> bool:
    """Return whether MLflow sends traces somewhere other than the tracking store.

    True after ``mlflow.tracing.set_destination`` (private name:
    ``mlflow.tracing.provider._MLFLOW_TRACE_USER_DESTINATION``), with an OpenTelemetry
    collector set by ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (private:
    ``mlflow.tracing.utils.otlp.should_use_otlp_exporter``), or in Databricks model
    serving, where traces go to inference tables (``mlflow.utils.databricks_utils.
    is_in_databricks_model_serving_environment``). There is no public getter for any.
    Missing in a future MLflow, this says ``True``, and traces go through MLflow's own
    exporter, which honours every destination.
    """
    try:
        from mlflow.tracing.provider import _MLFLOW_TRACE_USER_DESTINATION
        from mlflow.tracing.utils.otlp import should_use_otlp_exporter
        from mlflow.utils.databricks_utils import is_in_databricks_model_serving_environment

        return bool(
            _MLFLOW_TRACE_USER_DESTINATION.get() is not None
            or should_use_otlp_exporter()
            or is_in_databricks_model_serving_environment()  # type: ignore[no-untyped-call, unused-ignore]
        )
    except (ImportError, AttributeError):
        return True


def trace_context_is_set() -> bool:
    """Return whether MLflow's span processor would add links that ``log_spans`` does not
    write: an active model (``mlflow.set_active_model``, ``MLFLOW_ACTIVE_MODEL_ID``) or an
    active run in any thread (the trace's ``mlflow.modelId`` and ``mlflow.sourceRun``).

    Private names: ``mlflow.tracking.fluent._get_active_model_id_global`` and
    ``_get_latest_active_run`` (what MLflow's processor reads). Missing in a future
    MLflow, this says ``True``, and traces go through MLflow's own exporter.
    """
    try:
        from mlflow.tracking.fluent import _get_active_model_id_global, _get_latest_active_run

        latest = _get_latest_active_run()  # type: ignore[no-untyped-call, unused-ignore]
        return bool(_get_active_model_id_global() or latest)
    except (ImportError, AttributeError):
        return True


def tracking_server_version() -> str | None:
    """Return the MLflow version of the tracking server (an ``http(s)`` tracking URI), or
    ``None`` when it is not a server or does not say.

    Private name: ``RestStore._get_server_version`` (cached per server; a GET of the
    server's ``/version`` with its credentials, 3 s at most, no retries), which MLflow
    uses to decide whether the server takes ``log_spans``. There is no public call.
    """
    from mlflow.tracing.client import TracingClient

    store = TracingClient().store
    get = getattr(store, "_get_server_version", None)
    creds = getattr(store, "get_host_creds", None)
    if get is None or creds is None:
        return None
    found = get(creds())
    return None if found is None else str(found)
