"""Fixtures of the rollout suite: a real sqlite MLflow store through llmreg-mlflow.

Versions are created straight in the registry (a local folder as their source):
rollouts route, judge and move aliases, and never load the model, so no model
needs logging. Time is a :class:`FakeClock` the tests move by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmreg_gateway.rollout.state import RolloutStore
from llmreg_mlflow import MlflowRegister


class FakeClock:
    """A clock that moves only when told (``sleep`` moves it too)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        """The fake time."""
        return self.t

    def sleep(self, seconds: float) -> None:
        """Move the fake time forward."""
        self.t += seconds

    def advance(self, seconds: float) -> None:
        """Move the fake time forward (reads better in a test)."""
        self.t += seconds


@dataclass(frozen=True)
class Store:
    """A sqlite MLflow store in a temporary folder."""

    folder: Path
    uri: str


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A fresh sqlite store per module, set as MLflow's tracking URI."""
    folder = tmp_path_factory.mktemp("rollout-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        patch.chdir(folder)
        yield Store(folder, uri)


@pytest.fixture
def register(store: Store) -> MlflowRegister:
    """The llmreg-mlflow register on the store."""
    return MlflowRegister(tracking_uri=store.uri)


@pytest.fixture
def name(store: Store, register: MlflowRegister) -> str:
    """A registered model with versions 1, 2 and 3, and @champion on version 1."""
    from mlflow import MlflowClient

    model = f"chat-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(store.uri, store.uri)
    client.create_registered_model(model)
    source = store.folder / "artifacts"
    source.mkdir(exist_ok=True)
    for _ in range(3):
        client.create_model_version(model, source.as_uri())
    register.promote(model, 1, "champion")
    return model


@pytest.fixture
def rollouts(register: MlflowRegister) -> RolloutStore:
    """The rollouts of the store."""
    return RolloutStore(register)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock."""
    return FakeClock()
