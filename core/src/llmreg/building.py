"""Building components and clients from configs, for :class:`~llmreg.manager.PluginManager`.

A config such as ``{"KIND": "FolderSaver", "path": "m"}`` validates into the class
registered for that KIND and is bound to the manager that built it; a model
definition becomes the :class:`~llmreg.client.Client` of its provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmreg.errors import ConfigError, PluginContractError
from llmreg.names import ROLE_BASES, Role

if TYPE_CHECKING:
    from llmreg.bases import Component
    from llmreg.client import Client
    from llmreg.definition import ModelDefinition
    from llmreg.manager import PluginManager


def build(manager: PluginManager, role: Role, config: Mapping[str, Any] | Component) -> Component:
    """Validate ``config`` into the class registered for its KIND, bound to ``manager``.

    A component already built is checked against ``role`` and bound if it is not yet.

    Raises:
        UnknownKindError: the KIND is not installed.
        ConfigError: the config is not an object, lacks ``KIND``, or a field is invalid.
    """
    if isinstance(config, tuple(ROLE_BASES.values())):
        if not isinstance(config, ROLE_BASES[role]):
            raise ConfigError(f"{type(config).__name__} is not a {role}")
        if config._manager is None:
            config.bind(manager)
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"a {role} config must be an object with a KIND, not {type(config).__name__}"
        )
    kind = config.get("KIND")
    if not isinstance(kind, str):
        installed = ", ".join(sorted(manager.kinds(role))) or "none"
        raise ConfigError(f"a {role} config needs a KIND; installed: {installed}")
    cls = manager.component_class(role, kind)
    from pydantic import ValidationError

    try:
        built = cls.model_validate(dict(config))
    except ValidationError as exc:
        from llmreg.definition import describe_validation_error

        raise ConfigError(describe_validation_error(exc, f"{role} config {kind}")) from None
    built.bind(manager)
    return built


def client(manager: PluginManager, definition: ModelDefinition | Mapping[str, Any]) -> Client:
    """Build the provider client of ``definition`` (a definition, or a dict validated into one).

    Raises:
        ConfigError: ``definition`` is neither, or does not validate.
        UnknownKindError: no installed plugin provides its provider.
        PluginContractError: the provider's factory returned no ``Client``.
    """
    from llmreg.client import Client
    from llmreg.definition import ModelDefinition

    if isinstance(definition, Mapping):
        definition = ModelDefinition.from_dict(dict(definition))
    if not isinstance(definition, ModelDefinition):
        raise ConfigError(
            "a client is built from a ModelDefinition or a dict with at least 'model', "
            f"not {type(definition).__name__}"
        )
    built = manager.client_factory(definition.provider)(definition)
    if not isinstance(built, Client):
        reg = manager.names.lookup("provider", definition.provider)
        raise PluginContractError(
            f"provider {definition.provider!r} of plugin {reg.plugin} (distribution "
            f"{reg.distribution or 'unknown'}) returned {type(built).__name__}, not a "
            "llmreg.Client"
        )
    return built


__all__ = ["build", "client"]
