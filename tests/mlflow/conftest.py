"""Fixtures of the llmreg-mlflow suite: a real sqlite MLflow store and tiny logged models.

The models are MLflow models-from-code (``echo_model.py``) logged with explicit
``pip_requirements`` (no requirement inference) and, for the content-hash path,
``metadata={CONTENT_HASH_KEY: ...}`` as a llmreg saver writes it. This suite
installs only the core and llmreg-mlflow, so it does not use llmreg-pyfunc.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmreg.hashing import CONTENT_HASH_KEY, content_hash

ECHO_MODEL = Path(__file__).with_name("echo_model.py")


@dataclass(frozen=True)
class Store:
    """A sqlite MLflow store in a temporary folder, set as MLflow's tracking URI."""

    folder: Path
    uri: str

    def env(self) -> dict[str, str]:
        """The environment a second process needs to use this store."""
        env = {**os.environ, "MLFLOW_TRACKING_URI": self.uri}
        env.pop("MLFLOW_REGISTRY_URI", None)
        return env

    def registered_model_names(self) -> list[str]:
        """Every registered model name in the store."""
        from mlflow import MlflowClient

        return sorted(m.name for m in MlflowClient(self.uri, self.uri).search_registered_models())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A fresh sqlite store per test module; MLflow's URIs point at it, artifacts stay inside."""
    folder = tmp_path_factory.mktemp("mlflow-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        patch.chdir(folder)
        yield Store(folder, uri)


@pytest.fixture
def name() -> str:
    """A registered model name no other test uses."""
    return f"chat-{uuid.uuid4().hex[:10]}"


def log_echo_model(
    folder: Path, content: str, *, with_hash: bool = True, code: Path = ECHO_MODEL
) -> Any:
    """Log the echo model in a new run and return MLflow's ``ModelInfo``.

    With ``with_hash`` the ``MLmodel`` metadata carries ``content_hash([content])``,
    as a llmreg saver writes it; without, the register hashes the files.
    """
    import mlflow

    metadata = {CONTENT_HASH_KEY: content_hash([content])} if with_hash else None
    with mlflow.start_run():
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            pip_requirements=["mlflow"],
            metadata=metadata,
        )


@pytest.fixture
def log_model(store: Store) -> Callable[..., Any]:
    """``log_model(content, with_hash=True)`` logs an echo model into the store."""

    def log(content: str, *, with_hash: bool = True, code: Path = ECHO_MODEL) -> Any:
        return log_echo_model(store.folder, content, with_hash=with_hash, code=code)

    return log


@pytest.fixture
def second_process(store: Store) -> Callable[[str], Any]:
    """``second_process(code)`` runs Python ``code`` in a fresh interpreter on the store and
    returns the JSON its last printed line holds."""

    def run(code: str) -> Any:
        return _run_in_new_process(store, code)

    return run


def _run_in_new_process(store: Store, code: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=store.env(),
        cwd=store.folder,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
