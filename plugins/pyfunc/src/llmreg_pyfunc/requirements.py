"""Derive a saved model's explicit pip requirements from the llmreg distributions it uses.

A model needs the llmreg core, this plugin, and the distribution of each
provider its definition names (the primary and any fallback). Each is pinned to
its installed version, so MLflow's requirement inference (a subprocess that
costs seconds) never runs.
"""

from __future__ import annotations

import importlib.metadata
from functools import lru_cache

from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError
from llmreg.manager import PluginManager, normalize

CORE = "llmreg"
PLUGIN = "llmreg-pyfunc"


def pip_requirements(definition: ModelDefinition, manager: PluginManager) -> list[str]:
    """Return sorted ``name==version`` pins for the core, this plugin and the providers used.

    Raises:
        UnknownKindError: a provider the definition names is not installed.
        ConfigError: a distribution cannot be found to pin.
    """
    names = {CORE, PLUGIN}
    providers = {definition.provider, *(f.provider for f in definition.resolved_fallbacks())}
    for provider in sorted(providers):
        names.add(provider_distribution(provider, manager))
    return sorted(f"{name}=={installed_version(name)}" for name in names)


def provider_distribution(provider: str, manager: PluginManager) -> str:
    """Return the distribution that provides ``provider``.

    A provider registered by hand (not through an entry point) has no recorded
    distribution; then the distribution owning its factory's top-level package is used.
    """
    manager.client_factory(provider)  # raises UnknownKindError, naming what is installed
    registration = manager.providers()[provider]
    if registration.distribution:
        return normalize(registration.distribution)
    module = getattr(registration.obj, "__module__", "") or ""
    return _distribution_of_package(module.split(".")[0])


@lru_cache(maxsize=64)
def _distribution_of_package(package: str) -> str:
    guess = normalize(package)
    try:
        importlib.metadata.version(guess)
        return guess
    except importlib.metadata.PackageNotFoundError:
        pass
    owners = importlib.metadata.packages_distributions().get(package, [])
    if not owners:
        raise ConfigError(
            f"cannot tell which installed distribution provides the package {package!r}; "
            "install the provider's plugin as a distribution"
        )
    return normalize(owners[0])


@lru_cache(maxsize=64)
def installed_version(distribution: str) -> str:
    """Return the installed version of ``distribution``.

    Raises:
        ConfigError: it is not installed.
    """
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"the distribution {distribution} is not installed, so it cannot be pinned"
        ) from None
