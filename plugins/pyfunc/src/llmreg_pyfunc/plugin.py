"""The entry point of llmreg-pyfunc: registers the KINDs CustomSaver and CustomLoader.

Importing it imports neither mlflow nor pandas.
"""

from __future__ import annotations

from llmreg import hookimpl
from llmreg.hookspecs import RegisterClass
from llmreg_pyfunc.loader import CustomLoader
from llmreg_pyfunc.saver import CustomSaver


@hookimpl
def llmreg_register_savers(register: RegisterClass) -> None:
    """Register :class:`CustomSaver`."""
    register(CustomSaver)


@hookimpl
def llmreg_register_loaders(register: RegisterClass) -> None:
    """Register :class:`CustomLoader`."""
    register(CustomLoader)
