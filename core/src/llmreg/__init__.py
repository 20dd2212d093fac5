"""llmreg: save, load, register and serve LLM model definitions with MLflow.

This is the thin core. It defines the hook specs, the abstract bases, the model
definition, the data schemas, the typed errors and the plugin manager; the
plugins do the work. Importing it loads no plugin and imports no mlflow, openai
or pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmreg.bases import Adapter, AliasRegister, Loader, Register, Saver
    from llmreg.client import Client, Completion
    from llmreg.definition import FallbackModel, ModelDefinition, resolve_api_key
    from llmreg.errors import (
        ConfigError,
        ConfigFileNotFoundError,
        IncompatiblePluginError,
        InvalidModelURIError,
        LlmregError,
        ModelNotFoundError,
        PluginConflictError,
        PluginLoadError,
        PredictionError,
        ProviderError,
        RegistrationError,
        SchemaError,
        SecretPersistError,
        SecretResolutionError,
        UnknownKindError,
        UnsupportedModelFormatError,
    )
    from llmreg.hookspecs import hookimpl
    from llmreg.manager import PluginManager, create_plugin_manager, get_plugin_manager
    from llmreg.schemas import Inputs, Message, Outputs, Params, Request, Result
    from llmreg.version import __version__

# Public names are imported on first use (PEP 562), so that ``import llmreg``
# costs almost nothing: a CLI start or a host app pays only for what it touches.
_LAZY: dict[str, str] = {
    "Adapter": "llmreg.bases",
    "AliasRegister": "llmreg.bases",
    "Client": "llmreg.client",
    "Completion": "llmreg.client",
    "ConfigError": "llmreg.errors",
    "ConfigFileNotFoundError": "llmreg.errors",
    "FallbackModel": "llmreg.definition",
    "IncompatiblePluginError": "llmreg.errors",
    "Inputs": "llmreg.schemas",
    "InvalidModelURIError": "llmreg.errors",
    "LlmregError": "llmreg.errors",
    "Loader": "llmreg.bases",
    "Message": "llmreg.schemas",
    "ModelDefinition": "llmreg.definition",
    "ModelNotFoundError": "llmreg.errors",
    "Outputs": "llmreg.schemas",
    "Params": "llmreg.schemas",
    "PluginConflictError": "llmreg.errors",
    "PluginLoadError": "llmreg.errors",
    "PluginManager": "llmreg.manager",
    "PredictionError": "llmreg.errors",
    "ProviderError": "llmreg.errors",
    "Register": "llmreg.bases",
    "RegistrationError": "llmreg.errors",
    "Request": "llmreg.schemas",
    "Result": "llmreg.schemas",
    "Saver": "llmreg.bases",
    "SchemaError": "llmreg.errors",
    "SecretPersistError": "llmreg.errors",
    "SecretResolutionError": "llmreg.errors",
    "UnknownKindError": "llmreg.errors",
    "UnsupportedModelFormatError": "llmreg.errors",
    "__version__": "llmreg.version",
    "create_plugin_manager": "llmreg.manager",
    "get_plugin_manager": "llmreg.manager",
    "hookimpl": "llmreg.hookspecs",
    "resolve_api_key": "llmreg.definition",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmreg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "Adapter",
    "AliasRegister",
    "Client",
    "Completion",
    "ConfigError",
    "ConfigFileNotFoundError",
    "FallbackModel",
    "IncompatiblePluginError",
    "Inputs",
    "InvalidModelURIError",
    "LlmregError",
    "Loader",
    "Message",
    "ModelDefinition",
    "ModelNotFoundError",
    "Outputs",
    "Params",
    "PluginConflictError",
    "PluginLoadError",
    "PluginManager",
    "PredictionError",
    "ProviderError",
    "Register",
    "RegistrationError",
    "Request",
    "Result",
    "Saver",
    "SchemaError",
    "SecretPersistError",
    "SecretResolutionError",
    "UnknownKindError",
    "UnsupportedModelFormatError",
    "__version__",
    "create_plugin_manager",
    "get_plugin_manager",
    "hookimpl",
    "resolve_api_key",
]
