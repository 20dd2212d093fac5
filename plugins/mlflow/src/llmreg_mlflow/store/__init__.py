"""The MLflow layer of llmreg: the one place that talks to MLflow's stores.

llmreg-mlflow's register and llmreg-pyfunc's saver and loader go through it, so
that they agree on what a failure means and on what a model URI points at:

- :mod:`~llmreg_mlflow.store.errors`: one classification of what MLflow raises
  (not found, bad input, unreachable, conflict, other) and one translation per
  operation, :func:`~llmreg_mlflow.store.errors.mlflow_errors`. An unreachable
  store is :class:`~llmreg.errors.StoreUnavailableError` in every operation.
- :mod:`~llmreg_mlflow.store.resolve`: :class:`~llmreg_mlflow.store.resolve.Store`
  (a tracking and a registry URI, and a client on them), the one resolver of model
  URIs (:func:`~llmreg_mlflow.store.resolve.locate`), the downloader and the
  ``MLmodel`` reader.
- :mod:`~llmreg_mlflow.store.private`: every access to a private MLflow name, each
  with the public alternative or why there is none.
- :mod:`~llmreg_mlflow.store.environment`: the CLI's store defaults
  (``MLFLOW_TRACKING_URI``...), without importing mlflow.

No module here imports mlflow when it is imported: mlflow is imported inside the
functions that need it, so that ``llmreg plugins`` stays fast.
"""

from __future__ import annotations
