"""llmreg: save, load, register and serve LLM model definitions with MLflow.

This is the thin core. It defines the hook specs, the abstract bases, the model
definition, the data schemas, the typed results and errors, the row loop
(:class:`~llmreg.adapter.ClientAdapter`) and the plugin manager; the plugins do
the work. Importing it loads no plugin and imports no pydantic, mlflow, openai
or pandas: every public name is imported on first use.

The public names are the keys of ``_LAZY`` (each mapped to the module that
defines it); ``__all__`` is derived from it. To add a public name, add it to
``_LAZY`` and to the ``TYPE_CHECKING`` imports below (a test checks that both
agree).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # For type checkers only; ``X as X`` marks each name as re-exported.
    from llmreg.adapter import ClientAdapter as ClientAdapter
    from llmreg.bases import Adapter as Adapter
    from llmreg.bases import AliasRegister as AliasRegister
    from llmreg.bases import Loader as Loader
    from llmreg.bases import Register as Register
    from llmreg.bases import Saver as Saver
    from llmreg.client import Client as Client
    from llmreg.client import Completion as Completion
    from llmreg.definition import FallbackModel as FallbackModel
    from llmreg.definition import ModelDefinition as ModelDefinition
    from llmreg.definition import resolve_api_key as resolve_api_key
    from llmreg.errors import CapabilityMissingError as CapabilityMissingError
    from llmreg.errors import ConfigError as ConfigError
    from llmreg.errors import ConfigFileNotFoundError as ConfigFileNotFoundError
    from llmreg.errors import DefinitionError as DefinitionError
    from llmreg.errors import IncompatiblePluginError as IncompatiblePluginError
    from llmreg.errors import InvalidModelURIError as InvalidModelURIError
    from llmreg.errors import LlmregError as LlmregError
    from llmreg.errors import ModelNotFoundError as ModelNotFoundError
    from llmreg.errors import PluginConflictError as PluginConflictError
    from llmreg.errors import PluginContractError as PluginContractError
    from llmreg.errors import PluginLoadError as PluginLoadError
    from llmreg.errors import PredictionError as PredictionError
    from llmreg.errors import PredictionInterruptedError as PredictionInterruptedError
    from llmreg.errors import ProviderAuthenticationError as ProviderAuthenticationError
    from llmreg.errors import ProviderBadRequestError as ProviderBadRequestError
    from llmreg.errors import ProviderError as ProviderError
    from llmreg.errors import ProviderNotFoundError as ProviderNotFoundError
    from llmreg.errors import ProviderRateLimitError as ProviderRateLimitError
    from llmreg.errors import ProviderRedirectError as ProviderRedirectError
    from llmreg.errors import ProviderResponseError as ProviderResponseError
    from llmreg.errors import ProviderStartError as ProviderStartError
    from llmreg.errors import ProviderTimeoutError as ProviderTimeoutError
    from llmreg.errors import ProviderUnreachableError as ProviderUnreachableError
    from llmreg.errors import RegistrationError as RegistrationError
    from llmreg.errors import RegistrationInputError as RegistrationInputError
    from llmreg.errors import SchemaError as SchemaError
    from llmreg.errors import SecretPersistError as SecretPersistError
    from llmreg.errors import SecretResolutionError as SecretResolutionError
    from llmreg.errors import ServeError as ServeError
    from llmreg.errors import StoreUnavailableError as StoreUnavailableError
    from llmreg.errors import UnknownKindError as UnknownKindError
    from llmreg.errors import UnsupportedModelFormatError as UnsupportedModelFormatError
    from llmreg.hookspecs import CliSetup as CliSetup
    from llmreg.hookspecs import hookimpl as hookimpl
    from llmreg.manager import PluginManager as PluginManager
    from llmreg.manager import create_plugin_manager as create_plugin_manager
    from llmreg.manager import get_plugin_manager as get_plugin_manager
    from llmreg.results import AliasMove as AliasMove
    from llmreg.results import ModelVersionRef as ModelVersionRef
    from llmreg.results import SavedModel as SavedModel
    from llmreg.schemas import Inputs as Inputs
    from llmreg.schemas import Message as Message
    from llmreg.schemas import Outputs as Outputs
    from llmreg.schemas import Params as Params
    from llmreg.schemas import Request as Request
    from llmreg.schemas import Result as Result
    from llmreg.version import __version__ as __version__

#: Every public name, mapped to the module that defines it. Imported on first use
#: (PEP 562), so that ``import llmreg`` costs almost nothing: a CLI start or a host
#: app pays only for what it touches. The one list of the public API.
_LAZY: dict[str, str] = {
    # bases and the row loop
    "Adapter": "llmreg.bases",
    "AliasRegister": "llmreg.bases",
    "ClientAdapter": "llmreg.adapter",
    "Loader": "llmreg.bases",
    "Register": "llmreg.bases",
    "Saver": "llmreg.bases",
    # typed results
    "AliasMove": "llmreg.results",
    "ModelVersionRef": "llmreg.results",
    "SavedModel": "llmreg.results",
    # provider clients
    "Client": "llmreg.client",
    "Completion": "llmreg.client",
    # the model definition and the data
    "FallbackModel": "llmreg.definition",
    "ModelDefinition": "llmreg.definition",
    "resolve_api_key": "llmreg.definition",
    "Inputs": "llmreg.schemas",
    "Message": "llmreg.schemas",
    "Outputs": "llmreg.schemas",
    "Params": "llmreg.schemas",
    "Request": "llmreg.schemas",
    "Result": "llmreg.schemas",
    # hooks and the plugin manager
    "CliSetup": "llmreg.hookspecs",
    "hookimpl": "llmreg.hookspecs",
    "PluginManager": "llmreg.manager",
    "create_plugin_manager": "llmreg.manager",
    "get_plugin_manager": "llmreg.manager",
    "__version__": "llmreg.version",
    # errors
    "CapabilityMissingError": "llmreg.errors",
    "ConfigError": "llmreg.errors",
    "ConfigFileNotFoundError": "llmreg.errors",
    "IncompatiblePluginError": "llmreg.errors",
    "InvalidModelURIError": "llmreg.errors",
    "LlmregError": "llmreg.errors",
    "ModelNotFoundError": "llmreg.errors",
    "PluginConflictError": "llmreg.errors",
    "PluginContractError": "llmreg.errors",
    "PluginLoadError": "llmreg.errors",
    "PredictionError": "llmreg.errors",
    "ProviderAuthenticationError": "llmreg.errors",
    "ProviderBadRequestError": "llmreg.errors",
    "ProviderError": "llmreg.errors",
    "ProviderNotFoundError": "llmreg.errors",
    "ProviderRateLimitError": "llmreg.errors",
    "ProviderRedirectError": "llmreg.errors",
    "ProviderResponseError": "llmreg.errors",
    "ProviderStartError": "llmreg.errors",
    "ProviderTimeoutError": "llmreg.errors",
    "ProviderUnreachableError": "llmreg.errors",
    "RegistrationError": "llmreg.errors",
    "SchemaError": "llmreg.errors",
    "ServeError": "llmreg.errors",
    "RegistrationInputError": "llmreg.errors",
    "PredictionInterruptedError": "llmreg.errors",
    "DefinitionError": "llmreg.errors",
    "SecretPersistError": "llmreg.errors",
    "SecretResolutionError": "llmreg.errors",
    "StoreUnavailableError": "llmreg.errors",
    "UnknownKindError": "llmreg.errors",
    "UnsupportedModelFormatError": "llmreg.errors",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmreg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names: what is already imported, and every lazy public name."""
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)
