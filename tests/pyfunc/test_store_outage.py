"""One outage, one error: an unreachable tracking server is StoreUnavailableError whether
the user saves, shows (loads) or registers, and each fails fast."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from llmreg.definition import ModelDefinition
from llmreg.errors import StoreUnavailableError
from llmreg_mlflow import MlflowRegister
from llmreg_pyfunc import CustomLoader, CustomSaver
from support.mlflow_server import free_port

LOGGED = "models:/m-0123456789abcdef0123456789abcdef"


@pytest.fixture
def dead_server(monkeypatch: pytest.MonkeyPatch, providers: Any) -> str:
    """MLflow's URIs point at a port nothing listens on; MLflow does not retry."""
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    return uri


OPERATIONS: dict[str, Callable[[], Any]] = {
    "save": lambda: CustomSaver().save(ModelDefinition(provider="echo", model="m")),
    "save into a named experiment": lambda: CustomSaver(experiment="outage").save(
        ModelDefinition(provider="echo", model="m")
    ),
    "show a version": lambda: CustomLoader().load("models:/chat/1"),
    "show an alias": lambda: CustomLoader(alias_ttl_seconds=0).load("models:/chat@champion"),
    "show a logged model": lambda: CustomLoader().load(LOGGED),
    "register": lambda: MlflowRegister().register("chat", LOGGED),
    "promote": lambda: MlflowRegister().promote("chat", 1),
    "versions": lambda: MlflowRegister().versions("chat"),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_an_unreachable_store_is_store_unavailable_everywhere(
    dead_server: str, operation: str
) -> None:
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="cannot be reached") as caught:
        OPERATIONS[operation]()
    assert time.monotonic() - start < 15, "no fail-fast: MLflow retried"
    assert "MLFLOW_TRACKING_URI" in str(caught.value)
