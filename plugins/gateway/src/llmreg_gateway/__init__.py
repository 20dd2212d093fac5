"""The serving app: ``create_app(model_uri)`` builds a FastAPI app around loaded models.

It needs fastapi and uvicorn (llmreg-gateway's dependencies). Importing
this package imports neither; :func:`create_app` does, when called.

Routes: ``POST /predict`` (llmreg Inputs in, Outputs out), the OpenAI-compatible
``POST /v1/chat/completions`` (with ``stream: true`` as server-sent events) and
``GET /v1/models`` (and ``/v1/models/{id}``), ``GET /health``, ``GET /ready``,
``GET /metrics`` and ``POST /admin/reload``. Keys: see :mod:`llmreg_gateway.auth`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from llmreg.errors import ConfigError, LlmregError
from llmreg.uris import check_alias

if TYPE_CHECKING:
    from fastapi import FastAPI

    from llmreg.bases import AliasRegister, Loader
    from llmreg.manager import PluginManager
    from llmreg_gateway.model import ServedModel
    from llmreg_gateway.settings import AppOptions, GatewaySettings


def create_app(
    model_uri: str | Sequence[str] = (),
    *,
    settings: GatewaySettings | None = None,
    loader: Mapping[str, Any] | Loader | None = None,
    register: Mapping[str, Any] | AliasRegister | None = None,
    manager: PluginManager | None = None,
    **options: Unpack[AppOptions],
) -> FastAPI:
    """Build the FastAPI app that serves the model(s) at ``model_uri``.

    Args:
        model_uri: the model to serve, e.g. ``models:/chat@champion``, or a list of
            URIs: a request's ``model`` (URI, registered name or ``name@alias``)
            picks one. Each loads and reloads on its own.
        settings: all the settings as one :class:`GatewaySettings` (then give no
            ``model_uri``, config mapping or keyword setting besides it).
        loader: a loader config such as ``{"KIND": "FolderLoader"}``, or a
            :class:`~llmreg.Loader` instance. Default: the ``serve.loader`` default
            an installed plugin registers (llmreg-pyfunc's has its alias cache off,
            so a reload always sees where the alias points now), else ``loader``.
        register: the register config (or an :class:`~llmreg.AliasRegister`) that
            lists the registered models for ``alias``; default the plugins' default.
        manager: the plugin manager that builds the loader; default the process's own.
            A host that passes its own gets full isolation: nothing else is loaded.
        **options: the other settings by name, as :class:`GatewaySettings` documents
            them: ``alias``, ``discover_interval``, ``reload_interval`` (0: no poll;
            ``POST /admin/reload`` still works), ``max_body_bytes``, ``body_timeout``,
            ``max_rows``, ``max_upstream_bytes``, ``api_keys`` (references
            ``env:NAME``; with neither them nor ``keys_file`` the app asks for no
            key, the library default), ``keys_file``, ``admin_key``, ``no_auth``,
            ``protect_ready``, ``protect_metrics``, ``access_log``, ``metrics``.

    The models are loaded at start-up (the app's lifespan), or on the first
    request when the app is mounted in a host app whose lifespan does not run it.

    Raises:
        ImportError: fastapi is not installed; install ``llmreg-gateway``.
        ConfigError: a setting, key reference or the keys file is invalid, or no
            URI is given.
    """
    if settings is None:
        settings = _settings(model_uri, loader, register, dict(options))
    elif model_uri or options or isinstance(loader, Mapping) or isinstance(register, Mapping):
        given = sorted([*options, *(["model_uri"] if model_uri else [])])
        raise ConfigError(
            f"create_app was given settings= and {', '.join(given) or 'a config mapping'} "
            "besides: put every setting in the GatewaySettings"
        )
    return _build(settings, _component(loader), _component(register), manager)


def _settings(
    model_uri: str | Sequence[str],
    loader: Mapping[str, Any] | Loader | None,
    register: Mapping[str, Any] | AliasRegister | None,
    options: dict[str, Any],
) -> GatewaySettings:
    """The settings from ``create_app``'s keyword arguments (config mappings included)."""
    options["model_uris"] = [model_uri] if isinstance(model_uri, str) else list(model_uri)
    if isinstance(loader, Mapping):
        options["loader"] = loader
    if isinstance(register, Mapping):
        options["register"] = register
    from llmreg_gateway.settings import GatewaySettings

    return GatewaySettings.build(**options)


def _component(value: Any) -> Any:
    """An instance given for the loader or register (a mapping lives in the settings)."""
    return None if isinstance(value, Mapping) else value


def _build(
    settings: GatewaySettings,
    loader: Loader | None,
    register: AliasRegister | None,
    manager: PluginManager | None,
) -> FastAPI:
    try:
        from llmreg_gateway.app import build_app
    except ImportError as exc:  # pragma: no cover - the serve extra is missing
        raise ImportError(
            f"serving needs fastapi and uvicorn ({exc}): pip install llmreg-gateway"
        ) from exc
    from llmreg_gateway.auth import KeyRing
    from llmreg_gateway.registry import ServedModels, alias_finder

    keys = KeyRing.build(
        settings.api_keys, settings.keys_file, settings.admin_key, no_auth=settings.no_auth
    )
    discover = None
    found: AliasRegister | None = None
    if settings.alias is not None:
        found = _alias_register(register or settings.register, manager)
        discover = alias_finder(found, check_alias(settings.alias, ConfigError))
    elif settings.admin_key is not None or _registered(settings):
        found = _optional_register(settings, register, manager)
    served = ServedModels(
        settings.model_uris, loader=loader or settings.loader, manager=manager, discover=discover
    )
    console = None
    if settings.admin_key is not None and found is not None:
        console = _console_loader(settings, loader, manager)
    return build_app(served, settings, keys=keys, register=found, console_loader=console)


def _registered(settings: GatewaySettings) -> bool:
    """Whether a served URI names a registered alias (a rollout may split it)."""
    return settings.rollout_interval > 0 and any(
        uri.startswith("models:/") and "@" in uri for uri in settings.model_uris
    )


def _optional_register(
    settings: GatewaySettings, register: AliasRegister | None, manager: PluginManager | None
) -> AliasRegister | None:
    """The register the console and the rollouts read, or ``None`` (a WARNING when the
    console needed it) when none that lists models is installed."""
    try:
        return _alias_register(register or settings.register, manager)
    except LlmregError as exc:
        if settings.admin_key is not None:
            logging.getLogger(__name__).warning("the console at /console is off: %s", exc)
        return None


def _console_loader(
    settings: GatewaySettings, loader: Loader | None, manager: PluginManager | None
) -> Loader:
    """The loader the console's playground and diff load versions with: the one given,
    else built like the served models' (``serve.loader``)."""
    from llmreg_gateway.model import SERVE_LOADER_ROLE

    if loader is not None:
        return loader
    if manager is None:
        from llmreg.manager import get_plugin_manager

        manager = get_plugin_manager()
    config = settings.loader
    return manager.loader(config if config is not None else manager.default(SERVE_LOADER_ROLE))


def _alias_register(
    register: Mapping[str, Any] | AliasRegister | None, manager: PluginManager | None
) -> AliasRegister:
    """The register that lists registered models for ``create_app(alias=...)``.

    Raises:
        ConfigError: the register cannot list versions and aliases.
    """
    from llmreg.bases import AliasRegister

    if isinstance(register, AliasRegister):
        return register
    if manager is None:
        from llmreg.manager import get_plugin_manager

        manager = get_plugin_manager()
    built = manager.register(register if register is not None else manager.default("register"))
    if not isinstance(built, AliasRegister):
        raise ConfigError(
            f"register KIND {built.KIND} cannot list registered models: serving every model "
            "with an alias needs an AliasRegister (such as llmreg-mlflow's)"
        )
    return built


def __getattr__(name: str) -> Any:
    # ServedModel imports pydantic, and the settings' dataclass costs milliseconds to
    # make: only on use, so that loading the plugin stays light.
    if name == "ServedModel":
        from llmreg_gateway.model import ServedModel

        return ServedModel
    if name in ("GatewaySettings", "DEFAULT_MAX_BODY_BYTES"):  # a dataclass: made on use
        from llmreg_gateway import settings

        return (
            settings.GatewaySettings
            if name == "GatewaySettings"
            else settings.DEFAULT_MAX_BODY_BYTES
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_MAX_BODY_BYTES", "GatewaySettings", "ServedModel", "create_app"]
