"""llmreg-pyfunc: the KINDs CustomSaver and CustomLoader (LLM models as MLflow pyfunc models).

Importing this package imports neither mlflow, pandas nor pydantic: the classes are
imported on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmreg_pyfunc.loader import CustomLoader
    from llmreg_pyfunc.saver import CustomSaver

_LAZY = {"CustomLoader": "llmreg_pyfunc.loader", "CustomSaver": "llmreg_pyfunc.saver"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmreg_pyfunc' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["CustomLoader", "CustomSaver"]
