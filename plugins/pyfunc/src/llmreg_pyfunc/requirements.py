"""Derive a saved model's explicit pip requirements from the llmreg distributions it uses.

A model needs the llmreg core, this plugin, the MLflow layer it builds on
(llmreg-mlflow), and the distribution of each provider its definition names
(the primary and any fallback). Each is pinned to its installed version, so
MLflow's requirement inference (a subprocess that costs seconds) never runs.

:func:`model_requirements` goes one step further (the default of CustomSaver): each
llmreg distribution not installed from a package index is carried as a wheel
(:mod:`llmreg_pyfunc.wheels`) and named in ``requirements.txt`` by its path in the
model, so the model installs where llmreg is on no index.
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError
from llmreg.manager import PluginManager, normalize

logger = logging.getLogger(__name__)

CORE = "llmreg"
PLUGIN = "llmreg-pyfunc"
#: The distribution of the MLflow layer this plugin builds on.
LAYER = "llmreg-mlflow"


def pip_requirements(definition: ModelDefinition, manager: PluginManager) -> list[str]:
    """Return sorted ``name==version`` pins for the core, this plugin, its MLflow layer and
    the providers used.

    Raises:
        UnknownKindError: a provider the definition names is not installed.
        ConfigError: a distribution cannot be found to pin.
    """
    names = {CORE, PLUGIN, LAYER}
    providers = {definition.provider, *(f.provider for f in definition.resolved_fallbacks())}
    for provider in sorted(providers):
        dist = provider_distribution(provider, manager)
        if dist is None:
            logger.warning(
                "provider %r is not part of an installed distribution; it is not pinned in "
                "the model's requirements, so install it yourself where the model is served",
                provider,
            )
            continue
        names.add(dist)
    return sorted(f"{name}=={installed_version(name)}" for name in names)


@dataclass(frozen=True)
class Requirements:
    """What a model's ``requirements.txt`` holds, and the wheels it names.

    Attributes:
        lines: the requirement lines, sorted: ``name==version`` pins, and
            ``artifacts/wheels/<file>.whl`` for each bundled wheel.
        wheels: the wheel files to save as the model's ``wheels`` artifact.
    """

    lines: list[str]
    wheels: list[Path] = field(default_factory=list)


def model_requirements(
    definition: ModelDefinition, manager: PluginManager, *, bundle: bool = True
) -> Requirements:
    """Return the model's requirements; with ``bundle``, the llmreg distributions that
    no index serves (installed from a source tree or a wheel file) become wheels saved
    with the model, named by their path relative to the model folder.

    Raises:
        UnknownKindError, ConfigError: as :func:`pip_requirements`; ConfigError also
            when a wheel cannot be built (see :func:`llmreg_pyfunc.wheels.wheel_for`).
    """
    pins = pip_requirements(definition, manager)
    if not bundle:
        return Requirements(pins)
    from llmreg_pyfunc.wheels import REQUIREMENT_PREFIX, wheel_for

    lines: list[str] = []
    wheels: list[Path] = []
    for pin in pins:
        wheel = wheel_for(pin.split("==", 1)[0])
        if wheel is None:
            lines.append(pin)
        else:
            wheels.append(wheel)
            lines.append(REQUIREMENT_PREFIX + wheel.name)
    return Requirements(sorted(lines), wheels)


def provider_distribution(provider: str, manager: PluginManager) -> str | None:
    """Return the distribution that provides ``provider``, or ``None`` if there is none.

    A provider registered by hand (not through an entry point) has no recorded
    distribution; then the distribution owning its factory's top-level package is used.

    Raises:
        UnknownKindError: no plugin provides ``provider``.
    """
    manager.client_factory(provider)  # raises UnknownKindError, naming what is installed
    registration = manager.providers()[provider]
    if registration.distribution:
        return normalize(registration.distribution)
    module = getattr(registration.obj, "__module__", "") or ""
    return _distribution_of_package(module.split(".")[0])


@lru_cache(maxsize=64)
def _distribution_of_package(package: str) -> str | None:
    guess = normalize(package)
    try:
        importlib.metadata.version(guess)
        return guess
    except importlib.metadata.PackageNotFoundError:
        pass
    owners = importlib.metadata.packages_distributions().get(package, [])
    return normalize(owners[0]) if owners else None


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
