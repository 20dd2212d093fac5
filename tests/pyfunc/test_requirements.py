"""Explicit pip requirements come from the llmreg distributions a model uses."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from llmreg import get_plugin_manager
from llmreg.definition import ModelDefinition
from llmreg.errors import UnknownKindError
from llmreg_pyfunc.requirements import pip_requirements


def _pin(dist: str) -> str:
    return f"{dist}=={importlib.metadata.version(dist)}"


def test_core_plugin_and_provider_are_pinned(providers: Any) -> None:
    reqs = pip_requirements(ModelDefinition(provider="echo", model="m"), get_plugin_manager())
    # the echo provider lives in the core distribution; llmreg-mlflow is the MLflow layer
    assert reqs == sorted([_pin("llmreg"), _pin("llmreg-mlflow"), _pin("llmreg-pyfunc")])


def test_unknown_provider_is_a_typed_error(providers: Any) -> None:
    with pytest.raises(UnknownKindError, match="nope"):
        pip_requirements(ModelDefinition(provider="nope", model="m"), get_plugin_manager())


def test_fallback_providers_are_checked(providers: Any) -> None:
    definition = ModelDefinition(
        provider="echo", model="m", fallbacks=[{"provider": "missing-provider", "model": "x"}]
    )
    with pytest.raises(UnknownKindError, match="missing-provider"):
        pip_requirements(definition, get_plugin_manager())
