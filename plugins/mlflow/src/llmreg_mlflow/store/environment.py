"""Where the MLflow store is for a CLI run, and MLflow's noise: what ``llmreg_cli_setup`` does.

MLflow reads ``MLFLOW_TRACKING_URI`` and ``MLFLOW_REGISTRY_URI`` itself; the CLI
only fills in the first one, before anything imports mlflow, when it is not set:
a sqlite file in the working folder. The registry then follows the tracking
store, as MLflow users expect, unless ``MLFLOW_REGISTRY_URI`` says otherwise.

This module does not import mlflow.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmreg.hookspecs import CliSetup

TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
#: MLflow's own log level (read when mlflow is imported).
LOGGING_ENV = "MLFLOW_LOGGING_LEVEL"
#: Whether MLflow draws a progress bar while it up- or downloads artifacts.
PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
#: The file name of the embedded default store, in the working folder.
DEFAULT_DB = "mlflow.db"
#: The packages whose warnings the CLI hides unless ``--debug``.
QUIET = ("mlflow",)


def default_tracking_uri(folder: Path | None = None) -> str:
    """Return ``sqlite:///<folder>/mlflow.db`` for ``folder`` (default: the working folder)."""
    return f"sqlite:///{(folder or Path.cwd()).resolve() / DEFAULT_DB}"


def configure_store() -> dict[str, str | None]:
    """Set ``MLFLOW_TRACKING_URI`` to the default when unset, and return where the store is.

    Returns:
        ``{"tracking_uri", "registry_uri", "source"}``, ``source`` being ``"environment"``
        or ``"default"``. The registry URI is ``None`` where it follows the tracking URI.
    """
    tracking = os.environ.get(TRACKING_ENV)
    source = "environment"
    if not tracking:
        tracking = default_tracking_uri()
        os.environ[TRACKING_ENV] = tracking
        source = "default"
    return {
        "tracking_uri": tracking,
        "registry_uri": os.environ.get(REGISTRY_ENV) or None,
        "source": source,
    }


def cli_setup(debug: bool) -> CliSetup:
    """Prepare a CLI run: the store default, and MLflow quiet unless ``debug``.

    Unless ``debug``, MLflow logs errors only (``MLFLOW_LOGGING_LEVEL=ERROR``) and
    draws no progress bar; a value the user set is kept either way.
    """
    if not debug:
        os.environ.setdefault(LOGGING_ENV, "ERROR")
        os.environ.setdefault(PROGRESS_ENV, "false")
    return CliSetup(store=configure_store(), quiet=QUIET)


__all__ = [
    "DEFAULT_DB",
    "LOGGING_ENV",
    "PROGRESS_ENV",
    "QUIET",
    "REGISTRY_ENV",
    "TRACKING_ENV",
    "cli_setup",
    "configure_store",
    "default_tracking_uri",
]
