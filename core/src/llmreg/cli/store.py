"""Where the tracking store is: ``MLFLOW_TRACKING_URI``, or a sqlite file in the working folder.

MLflow reads ``MLFLOW_TRACKING_URI`` and ``MLFLOW_REGISTRY_URI`` itself; the CLI
only fills in the first one, before any plugin imports mlflow, when it is not
set. The registry then follows the tracking store, as MLflow users expect,
unless ``MLFLOW_REGISTRY_URI`` says otherwise.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import click

TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
#: The file name of the embedded default store, in the working folder.
DEFAULT_DB = "mlflow.db"


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


def use_store() -> dict[str, str | None] | None:
    """Configure the store (see :func:`configure_store`) where mlflow is installed.

    Returns ``None`` where mlflow is not installed: then no plugin uses a tracking store.
    """
    if importlib.util.find_spec("mlflow") is None:
        return None
    return configure_store()


def say_store(store: dict[str, str | None] | None) -> None:
    """Say where the store is, as one ``store: <uri>`` line on stderr.

    Commands call it after they succeeded, so that an error stays one line.
    """
    if store is None:
        return
    line = f"store: {store['tracking_uri']}"
    if store["registry_uri"]:
        line += f" (registry: {store['registry_uri']})"
    click.echo(line, err=True)
