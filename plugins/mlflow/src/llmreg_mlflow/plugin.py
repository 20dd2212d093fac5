"""The entry point of llmreg-mlflow: the KIND ``MlflowRegister``, the default register,
and the CLI's MLflow store defaults.

Registration is by import path, so importing this module imports neither mlflow
nor the plugin's pydantic classes.
"""

from __future__ import annotations

from llmreg import hookimpl
from llmreg.hookspecs import CliSetup, RegisterClass, RegisterDefault


@hookimpl
def llmreg_register_registers(register: RegisterClass) -> None:
    """Contribute :class:`~llmreg_mlflow.register.MlflowRegister`, imported on first use."""
    register("MlflowRegister", "llmreg_mlflow.register:MlflowRegister")


@hookimpl
def llmreg_defaults(register: RegisterDefault) -> None:
    """Make ``MlflowRegister`` the default register."""
    register("register", {"KIND": "MlflowRegister"})


@hookimpl
def llmreg_cli_setup(debug: bool) -> CliSetup:
    """Default ``MLFLOW_TRACKING_URI`` to ``sqlite:///<cwd>/mlflow.db``, keep MLflow quiet
    unless ``debug``; see :func:`llmreg_mlflow.store.environment.cli_setup`."""
    from llmreg_mlflow.store.environment import cli_setup

    return cli_setup(debug)
