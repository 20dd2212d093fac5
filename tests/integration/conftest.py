"""Shared by the integration suites: each module starts and ends with MLflow's process-wide
tracking URI unset, so ``MLFLOW_TRACKING_URI`` decides the store.

Some suites call ``mlflow.set_tracking_uri(server.url)`` for a server their module
stops (test_registry_rest, test_promotion_note_rest). MLflow's explicitly set URI wins
over the environment variable, so later modules' in-process saves and loads went to that
server: gone (the in-process host app of docs/serving.md never got ready, a save failed
``StoreUnavailableError``) or still running but not the store the module's subprocesses
read (``mlflow models serve``: "Logged model ... not found").
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


def _forget_the_tracking_uri() -> None:
    mlflow = sys.modules.get("mlflow")  # never imported just for this
    if mlflow is not None:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module", autouse=True)
def _environment_decides_the_store() -> Iterator[None]:
    """Unset MLflow's process-wide tracking URI before and after each module."""
    _forget_the_tracking_uri()
    yield
    _forget_the_tracking_uri()
