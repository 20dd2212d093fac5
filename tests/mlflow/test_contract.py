"""The core's contract kit run against MlflowRegister, and the plugin's entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmreg.errors import ConfigError
from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg.manager import create_plugin_manager
from llmreg.testing.contract import RegisterContract
from llmreg_mlflow import MlflowRegister

ECHO_MODEL = Path(__file__).with_name("echo_model.py")


class TestMlflowRegisterContract(RegisterContract):
    """Shape and lifecycle (versions, tags, alias moves from four processes, missing
    versions) on a sqlite store in the check's folder."""

    component_class = MlflowRegister
    config = {"KIND": "MlflowRegister", "tags": {"team": "nlp"}, "await_registration_for": 30}

    def store_env(self, folder: Path) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}

    def model_uri(self, folder: Path, n: int) -> str:
        """A logged echo model of its own content (MlflowRegister registers real models)."""
        import mlflow

        metadata = {CONTENT_HASH_KEY: content_hash([f"kit content {n}"])}
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(ECHO_MODEL),
                pip_requirements=["mlflow"],
                metadata=metadata,
            )
        return str(info.model_uri)


def test_the_entry_point_provides_the_kind() -> None:
    manager = create_plugin_manager()
    built = manager.register({"KIND": "MlflowRegister", "model_tags": {"a": "b"}})
    assert type(built) is MlflowRegister
    assert built.model_tags == {"a": "b"}
    assert built.manager is manager
    assert manager.kinds("register")["MlflowRegister"].distribution == "llmreg-mlflow"


def test_the_entry_point_gives_the_default_register() -> None:
    manager = create_plugin_manager()
    assert manager.default("register") == {"KIND": "MlflowRegister"}
    assert type(manager.register()) is MlflowRegister
    assert [c for c in manager.conflicts() if c.name == "register"] == []


def test_tag_values_of_any_json_type_are_stored_as_strings() -> None:
    register = MlflowRegister(
        tags={"team": "nlp", "replicas": 3, "canary": True, "owners": ["a", "b"], "none": None},
        model_tags={"ratio": 0.5, "meta": {"b": 1, "a": 2}},
    )
    assert register.tags == {
        "team": "nlp",
        "replicas": "3",
        "canary": "True",
        "owners": '["a", "b"]',
        "none": "None",
    }
    assert register.model_tags == {"ratio": "0.5", "meta": '{"a": 2, "b": 1}'}


def test_a_tag_value_that_is_not_json_is_a_config_error() -> None:
    manager = create_plugin_manager()
    with pytest.raises(ConfigError, match="not JSON"):
        manager.register({"KIND": "MlflowRegister", "tags": {"when": object()}})


def test_importing_the_plugin_imports_neither_mlflow_nor_its_classes() -> None:
    code = (
        "import sys, llmreg_mlflow, llmreg_mlflow.plugin;"
        "print(sorted(m for m in ('mlflow', 'requests', 'pandas', 'pydantic',"
        " 'llmreg_mlflow.register') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
