"""The entry point of llmreg-pyfunc: the KINDs CustomSaver and CustomLoader, and the
default saver, loader and serving loader.

Registration is by import path: importing this module imports neither mlflow,
pandas nor the plugin's pydantic classes.
"""

from __future__ import annotations

from llmreg import hookimpl
from llmreg.hookspecs import RegisterClass, RegisterCommand, RegisterDefault


@hookimpl
def llmreg_register_savers(register: RegisterClass) -> None:
    """Register :class:`~llmreg_pyfunc.saver.CustomSaver`, imported on first use."""
    register("CustomSaver", "llmreg_pyfunc.saver:CustomSaver")


@hookimpl
def llmreg_register_loaders(register: RegisterClass) -> None:
    """Register :class:`~llmreg_pyfunc.loader.CustomLoader`, imported on first use."""
    register("CustomLoader", "llmreg_pyfunc.loader:CustomLoader")


@hookimpl
def llmreg_defaults(register: RegisterDefault) -> None:
    """Make CustomSaver and CustomLoader the defaults; the serving app's loader asks the
    registry on every (re)load (``alias_ttl_seconds=0``), so a moved alias is served at once."""
    register("saver", {"KIND": "CustomSaver"})
    register("loader", {"KIND": "CustomLoader"})
    register("serve.loader", {"KIND": "CustomLoader", "alias_ttl_seconds": 0})


@hookimpl
def llmreg_register_commands(register: RegisterCommand) -> None:
    """Add ``llmreg evaluate`` (MLflow scorers and evaluation runs need this plugin)."""
    register("evaluate", "llmreg_pyfunc.evaluate_cli:evaluate")
