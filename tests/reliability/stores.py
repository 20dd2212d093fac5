"""A real sqlite MLflow store in a folder, and the "leftovers" snapshot taken around each case.

:func:`use_store` points MLflow at ``sqlite:///<folder>/mlflow.db`` (tracking and
registry, through the environment and MLflow's own setters) and makes the folder
the working directory, so that the artifact root ``<folder>/mlruns`` stays inside
it. :meth:`Store.snapshot` records what a failed call could leave behind:
registered models and versions, runs still RUNNING, files under the artifact
root, and entries of the private temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Snapshot:
    """What a store holds at one moment."""

    registered_models: frozenset[str]
    versions: frozenset[tuple[str, str, str]]
    running_runs: frozenset[str]
    runs: frozenset[str]
    artifact_files: frozenset[str]
    temp_entries: frozenset[str]

    def left_behind(self, before: Snapshot) -> list[str]:
        """Describe everything this snapshot holds that ``before`` did not."""
        found = []
        for field in (
            "registered_models",
            "versions",
            "running_runs",
            "runs",
            "artifact_files",
            "temp_entries",
        ):
            new = getattr(self, field) - getattr(before, field)
            if new:
                found.append(f"{field}: {sorted(new)[:5]}")
        return found


@dataclass(frozen=True)
class Store:
    """A sqlite MLflow store (tracking and registry) in ``folder``."""

    folder: Path

    @property
    def uri(self) -> str:
        """The tracking and registry URI."""
        return f"sqlite:///{self.db}"

    @property
    def db(self) -> Path:
        """The sqlite database file."""
        return self.folder / "mlflow.db"

    @property
    def artifact_root(self) -> Path:
        """Where MLflow writes artifacts (``./mlruns`` of the working directory)."""
        return self.folder / "mlruns"

    @property
    def temp(self) -> Path:
        """The private temporary folder used while this store is active."""
        return self.folder / "tmp"

    def env(self) -> dict[str, str]:
        """The environment a subprocess needs to use this store."""
        return {"MLFLOW_TRACKING_URI": self.uri, "MLFLOW_REGISTRY_URI": self.uri}

    def client(self) -> Any:
        """An ``MlflowClient`` on this store."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def snapshot(self) -> Snapshot:
        """Record the store's registered models, versions, runs, artifact files and temp entries."""
        from mlflow.entities import ViewType

        client = self.client()
        models = client.search_registered_models(max_results=1000)
        versions = client.search_model_versions(max_results=10000)
        experiments = client.search_experiments(view_type=ViewType.ALL)
        runs = client.search_runs(
            [e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=10000
        )
        return Snapshot(
            registered_models=frozenset(m.name for m in models),
            versions=frozenset((v.name, str(v.version), str(v.status)) for v in versions),
            running_runs=frozenset(r.info.run_id for r in runs if r.info.status == "RUNNING"),
            runs=frozenset(r.info.run_id for r in runs),
            artifact_files=_files(self.artifact_root),
            temp_entries=_files(self.temp),
        )


def _files(root: Path) -> frozenset[str]:
    if not root.is_dir():
        return frozenset()
    return frozenset(str(p.relative_to(root)) for p in root.rglob("*"))


def _reset_mlflow_uris() -> None:
    """Forget URIs set with ``mlflow.set_tracking_uri``/``set_registry_uri`` in this process."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_uri = None
    registry_utils._registry_uri = None


@contextlib.contextmanager
def use_store(folder: Path, uri: str | None = None) -> Iterator[Store]:
    """Make ``folder`` the working directory and its sqlite store (or ``uri``) MLflow's store."""
    import mlflow

    store = Store(folder)
    store.temp.mkdir(parents=True, exist_ok=True)
    target = uri or store.uri
    previous_tempdir = tempfile.tempdir
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", target)
        patch.setenv("MLFLOW_REGISTRY_URI", target)
        patch.chdir(folder)
        mlflow.set_tracking_uri(target)
        mlflow.set_registry_uri(target)
        tempfile.tempdir = str(store.temp)
        try:
            yield store
        finally:
            tempfile.tempdir = previous_tempdir
            _reset_mlflow_uris()


def cli_env(store: Store, **extra: str) -> dict[str, str]:
    """The environment of an ``llmreg`` subprocess on ``store``."""
    env = {**os.environ, **store.env(), "TMPDIR": str(store.temp), **extra}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env
