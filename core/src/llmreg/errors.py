"""Typed errors of llmreg.

Every error that llmreg raises on purpose is a subclass of :class:`LlmregError`.
Each message says what was wrong and what to do about it. Where a Python
built-in already names the category (``ValueError``, ``FileNotFoundError``,
``LookupError``), the typed error subclasses it too, so callers that catch the
built-in keep working.
"""

from __future__ import annotations


class LlmregError(Exception):
    """Base class of every error llmreg raises on purpose."""


# --- configuration ---------------------------------------------------------


class ConfigError(LlmregError, ValueError):
    """A configuration is missing, malformed or invalid."""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A configuration file that was named does not exist."""


class DefinitionError(ConfigError):
    """A model definition built in code (``ModelDefinition(...)``) is invalid.

    A ``ValueError``, as pydantic's own validation error is, so callers that
    catch ``ValueError`` keep working; the message names every field.
    """


class SecretResolutionError(ConfigError):
    """An API key reference (such as ``env:OPENAI_API_KEY``) cannot be resolved."""


class SecretPersistError(LlmregError):
    """A secret value would be written to an artifact, param, tag or log."""


class SchemaError(LlmregError, ValueError):
    """Inputs, outputs, a signature or an input example do not match the chat schema."""


# --- plugins ---------------------------------------------------------------


class UnknownKindError(ConfigError, LookupError):
    """A config names a KIND (or provider) that no installed plugin provides."""


class PluginLoadError(LlmregError):
    """A plugin failed to import or to register its classes."""


class IncompatiblePluginError(PluginLoadError):
    """A plugin requires a version of the llmreg core other than the running one."""


class PluginConflictError(PluginLoadError):
    """Two plugins provide the same KIND or provider name."""


class CapabilityMissingError(ConfigError):
    """A component lacks a capability a command needs (see :mod:`llmreg.capabilities`).

    The message names the capability, the component's KIND (or provider) and what
    to install or choose instead. A ``ConfigError``: the fix is another component.
    Added in llmreg 0.2.0.
    """


class PluginContractError(LlmregError):
    """A plugin broke the contract: it returned the wrong type, or a hook raised.

    The message names the plugin; the fix is in the plugin, not in the input.
    """


# --- models and registry ---------------------------------------------------


class InvalidModelURIError(LlmregError, ValueError):
    """A model URI is malformed or uses a scheme llmreg does not accept."""


class ModelNotFoundError(LlmregError, LookupError):
    """A model, version, alias or run named by a URI does not exist."""


class UnsupportedModelFormatError(LlmregError):
    """A model exists but was not saved by a llmreg saver that this loader reads."""


class RegistrationError(LlmregError):
    """Registering a model, or moving an alias, failed."""


class RegistrationInputError(RegistrationError, ValueError):
    """A registered model name, alias or tag breaks MLflow's rules; checked before any write."""


class StoreUnavailableError(LlmregError):
    """The MLflow tracking or registry store cannot be reached."""


class ServeError(LlmregError):
    """The serving app cannot start, for example because its address is in use."""


# --- prediction ------------------------------------------------------------


class PredictionError(LlmregError):
    """A prediction failed. Raised for a whole batch in strict mode."""


class PredictionInterruptedError(PredictionError):
    """``llmreg predict --file`` stopped early (Ctrl-C, or the output failed).

    The message says how many rows were answered and where they are kept.
    """


class ProviderError(PredictionError):
    """A call to an LLM endpoint failed after its retries and fallbacks.

    Attributes:
        status_code: the HTTP status the endpoint answered, when there was one.
        attempts: how many HTTP requests were sent before giving up.
    """

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class ProviderAuthenticationError(ProviderError):
    """The endpoint refused the credentials (HTTP 401 or 403). Never retried."""


class ProviderBadRequestError(ProviderError):
    """The endpoint rejected the request as malformed (HTTP 400 or 422)."""


class ProviderNotFoundError(ProviderError):
    """The endpoint or the model does not exist there (HTTP 404)."""


class ProviderRateLimitError(ProviderError):
    """The endpoint kept answering HTTP 429 until the retries were exhausted."""


class ProviderTimeoutError(ProviderError):
    """The endpoint did not answer within the configured timeout."""


class ProviderUnreachableError(ProviderError):
    """The endpoint could not be connected to, or dropped the connection."""


class ProviderResponseError(ProviderError):
    """The endpoint answered with a server error or a body that is not a valid completion."""


class ProviderRedirectError(ProviderResponseError):
    """The endpoint answered a redirect to another origin, which llmreg does not follow.

    Following it would send the key and the credential headers to another host. The
    message names the status and the new origin (scheme, host, port: no path, no query).
    """


class ProviderStartError(ProviderError):
    """A local model server could not be started. The message carries its last output lines."""


__all__ = [
    "CapabilityMissingError",
    "ConfigError",
    "ConfigFileNotFoundError",
    "DefinitionError",
    "IncompatiblePluginError",
    "InvalidModelURIError",
    "LlmregError",
    "ModelNotFoundError",
    "PluginConflictError",
    "PluginContractError",
    "PluginLoadError",
    "PredictionError",
    "PredictionInterruptedError",
    "ProviderAuthenticationError",
    "ProviderBadRequestError",
    "ProviderError",
    "ProviderNotFoundError",
    "ProviderRateLimitError",
    "ProviderRedirectError",
    "ProviderResponseError",
    "ProviderStartError",
    "ProviderTimeoutError",
    "ProviderUnreachableError",
    "RegistrationError",
    "RegistrationInputError",
    "SchemaError",
    "SecretPersistError",
    "SecretResolutionError",
    "ServeError",
    "StoreUnavailableError",
    "UnknownKindError",
    "UnsupportedModelFormatError",
]
