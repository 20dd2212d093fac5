"""The core's contract kit run against MlflowRegister, and the plugin's entry point."""

from __future__ import annotations

import subprocess
import sys

from llmreg.manager import create_plugin_manager
from llmreg.testing.contract import RegisterContract
from llmreg_mlflow import MlflowRegister


class TestMlflowRegisterContract(RegisterContract):
    component_class = MlflowRegister
    config = {"KIND": "MlflowRegister", "tags": {"team": "nlp"}, "await_registration_for": 30}


def test_the_entry_point_provides_the_kind() -> None:
    manager = create_plugin_manager()
    built = manager.register({"KIND": "MlflowRegister", "model_tags": {"a": "b"}})
    assert type(built) is MlflowRegister
    assert built.model_tags == {"a": "b"}


def test_importing_the_plugin_does_not_import_mlflow() -> None:
    code = (
        "import sys, llmreg_mlflow, llmreg_mlflow.plugin;"
        "print(sorted(m for m in ('mlflow', 'requests', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
