"""MlflowRegister's tags of any JSON type are stored as MLflow's own client stores them."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient

from llmreg.errors import ConfigError
from llmreg_mlflow import MlflowRegister

SCALARS = {"replicas": 3, "ratio": 0.25, "canary": True, "off": False, "none": None, "t": "x"}


def test_scalar_tags_are_stored_as_mlflows_client_stores_them(name: str, log_model: Any) -> None:
    info = log_model("tag-values")
    ref = MlflowRegister(tags=SCALARS, model_tags={"canary": True}).register(name, info.model_uri)
    client = MlflowClient()
    stored = client.get_model_version(name, str(ref.version)).tags
    # what MLflow writes for the same values through its own client
    for key, value in SCALARS.items():
        client.set_model_version_tag(name, str(ref.version), f"mlflow.{key}", value)
    by_mlflow = client.get_model_version(name, str(ref.version)).tags
    for key in SCALARS:
        assert stored[key] == by_mlflow[f"mlflow.{key}"], key
    assert stored["replicas"] == "3" and stored["canary"] == "True" and stored["none"] == "None"
    assert client.get_registered_model(name).tags["canary"] == "True"
    assert ref.tags["ratio"] == "0.25"


def test_lists_and_objects_are_stored_as_json(name: str, log_model: Any) -> None:
    info = log_model("tag-json")
    tags = {"owners": ["a", "b"], "limits": {"rpm": 60, "burst": True}}
    ref = MlflowRegister(tags=tags).register(name, info.model_uri)
    stored = MlflowClient().get_model_version(name, str(ref.version)).tags
    assert stored["owners"] == '["a", "b"]'
    assert stored["limits"] == '{"burst": true, "rpm": 60}'


def test_set_tags_stores_values_the_same_way(name: str, log_model: Any) -> None:
    register = MlflowRegister()
    ref = register.register(name, log_model("tag-set").model_uri)
    again = register.set_tags(name, ref.version, {"score": 0.5, "ok": True})  # type: ignore[dict-item]
    assert (again.tags["score"], again.tags["ok"]) == ("0.5", "True")


def test_a_value_that_is_not_json_is_still_a_config_error() -> None:
    from llmreg.manager import create_plugin_manager

    with pytest.raises(ConfigError, match="not JSON"):
        create_plugin_manager().register({"KIND": "MlflowRegister", "tags": {"s": {1, 2}}})
