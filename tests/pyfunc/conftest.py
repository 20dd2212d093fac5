"""Fixtures for the llmreg-pyfunc suite: a real sqlite MLflow store and test providers.

The suite runs with the core, llmreg-mlflow (the MLflow layer llmreg-pyfunc builds
on) and llmreg-pyfunc installed: models use the core's ``echo`` provider (an entry
point of the core), plus two providers defined here (``keyed`` resolves its api_key
when built; ``counting`` counts how often a client is built).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmreg import hookimpl
from llmreg.definition import ModelDefinition, resolve_api_key
from llmreg.testing import EchoClient, registered


class ProviderLog:
    """What the test providers saw: how many clients were built, with which keys."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self.keys: list[str | None] = []


LOG = ProviderLog()


def _keyed(definition: ModelDefinition) -> EchoClient:
    LOG.keys.append(resolve_api_key(definition.api_key))
    return EchoClient(definition)


def _counting(definition: ModelDefinition) -> EchoClient:
    LOG.built.append(definition.model)
    return EchoClient(definition)


class _TestProviders:
    @hookimpl
    def llmreg_register_providers(self, register: Any) -> None:
        register("keyed", _keyed)
        register("counting", _counting)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real sqlite tracking store (and its artifact folder) for the whole session."""
    root = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mp.chdir(root)  # the default artifact root of a sqlite store is ./mlruns
        yield root


@pytest.fixture(scope="session")
def providers() -> Iterator[ProviderLog]:
    """The test providers, on the default plugin manager (which loads ``echo`` itself)."""
    with registered(_TestProviders()):
        yield LOG


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    from llmreg_pyfunc.cache import MODEL_CACHE

    MODEL_CACHE.clear()
    yield
    MODEL_CACHE.clear()


@pytest.fixture
def experiment(request: pytest.FixtureRequest, store: Path, providers: ProviderLog) -> str:
    """A fresh experiment name per test, so runs of other tests never interfere."""
    return f"exp-{request.node.name}-{os.getpid()}"


@pytest.fixture
def definition() -> ModelDefinition:
    """A definition for the echo provider with a key reference."""
    return ModelDefinition(
        provider="echo", model="echo-1", api_key="env:LLMREG_TEST_KEY", temperature=0.1
    )


@pytest.fixture(scope="session")
def saved(store: Path, providers: ProviderLog) -> Any:
    """One model saved with CustomSaver (echo provider), shared by the read-only tests:
    a :class:`llmreg.results.SavedModel`."""
    from llmreg_pyfunc import CustomSaver

    definition = ModelDefinition(provider="echo", model="echo-1", api_key="env:LLMREG_TEST_KEY")
    return CustomSaver(experiment="shared").save(definition)


def _runs_of(experiment: str) -> list[Any]:
    import mlflow

    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        return []
    return list(mlflow.MlflowClient().search_runs([found.experiment_id], run_view_type=3))


@pytest.fixture
def runs_of() -> Any:
    """``runs_of(experiment)``: every run (any status) of an experiment, [] if none."""
    return _runs_of


@pytest.fixture
def traced_experiment(experiment: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new experiment set through ``MLFLOW_EXPERIMENT_NAME``, tracing left to MLflow's
    settings (:func:`support.traces.traced_experiment`); its id."""
    from support.traces import traced_experiment as make

    return make(experiment, monkeypatch)
