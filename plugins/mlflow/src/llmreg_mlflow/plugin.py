"""The entry-point module of llmreg-mlflow: registers the KIND ``MlflowRegister``."""

from __future__ import annotations

from llmreg import hookimpl
from llmreg.hookspecs import RegisterClass


@hookimpl
def llmreg_register_registers(register: RegisterClass) -> None:
    """Contribute :class:`~llmreg_mlflow.register.MlflowRegister`."""
    from llmreg_mlflow.register import MlflowRegister

    register(MlflowRegister)
