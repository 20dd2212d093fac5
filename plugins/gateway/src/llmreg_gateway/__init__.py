"""The serving app: ``create_app(model_uri)`` builds a FastAPI app around loaded models.

It needs fastapi and uvicorn (llmreg-gateway's dependencies). Importing
this package imports neither; :func:`create_app` does, when called.

Routes: ``POST /predict`` (llmreg Inputs in, Outputs out), the OpenAI-compatible
``POST /v1/chat/completions`` (with ``stream: true`` as server-sent events) and
``GET /v1/models`` (and ``/v1/models/{id}``), ``GET /health``, ``GET /ready``,
``GET /metrics`` and ``POST /admin/reload``. Keys: see :mod:`llmreg_gateway.auth`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmreg.errors import ConfigError
from llmreg.uris import check_alias

if TYPE_CHECKING:
    from fastapi import FastAPI

    from llmreg.bases import AliasRegister, Loader
    from llmreg.manager import PluginManager
    from llmreg_gateway.model import ServedModel

#: The largest request body the app reads, in bytes; larger ones get HTTP 413.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def create_app(
    model_uri: str | Sequence[str] = (),
    *,
    alias: str | None = None,
    register: Mapping[str, Any] | AliasRegister | None = None,
    discover_interval: float = 30.0,
    loader: Mapping[str, Any] | Loader | None = None,
    manager: PluginManager | None = None,
    reload_interval: float = 30.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    api_keys: Sequence[str] = (),
    keys_file: str | os.PathLike[str] | None = None,
    admin_key: str | None = None,
    no_auth: bool = False,
    protect_ready: bool = False,
    protect_metrics: bool = False,
    access_log: bool = True,
    metrics: bool = True,
) -> FastAPI:
    """Build the FastAPI app that serves the model(s) at ``model_uri``.

    Args:
        model_uri: the model to serve, e.g. ``models:/chat@champion``, or a list of
            URIs: a request's ``model`` (URI, registered name or ``name@alias``)
            picks one. Each loads and reloads on its own.
        alias: also serve ``models:/NAME@ALIAS`` for every registered model that has
            this alias, asked of the register at start and every
            ``discover_interval`` seconds (models gaining the alias are added).
        register: the register config (or an :class:`~llmreg.AliasRegister`) that
            lists the registered models for ``alias``; default the plugins' default.
        discover_interval: seconds between two listings for ``alias``.
        loader: a loader config such as ``{"KIND": "FolderLoader"}``, or a
            :class:`~llmreg.Loader` instance. Default: the ``serve.loader`` default
            an installed plugin registers (llmreg-pyfunc's has its alias cache off,
            so a reload always sees where the alias points now), else ``loader``.
        manager: the plugin manager that builds the loader; default the process's own.
            A host that passes its own gets full isolation: nothing else is loaded.
        reload_interval: seconds between checks of an alias URI for a moved alias;
            0 turns the poll off (``POST /admin/reload`` still works).
        max_body_bytes: larger request bodies are refused with HTTP 413.
        api_keys: key references (``env:NAME``) the model routes accept as
            ``Authorization: Bearer KEY``. With neither ``api_keys`` nor
            ``keys_file`` the app asks for no key (the library default;
            ``llmreg serve`` refuses to start so unless given ``--no-auth``).
        keys_file: a file of sha256 key hashes, one per line, each optionally
            followed by the comma-separated model names the key may call.
        admin_key: the reference of the key ``POST /admin/reload`` asks for.
            Without it, reload is open on an open app and refused (403) on a keyed one.
        no_auth: ask for no key on the model routes even when keys are given.
        protect_ready: ``/ready`` asks for an API key too (default: open).
        protect_metrics: ``/metrics`` asks for an API key too (default: open).
        access_log: write one JSON line per request to the ``llmreg_gateway.access`` logger.
        metrics: keep Prometheus metrics for ``/metrics`` (needs prometheus-client).

    The models are loaded at start-up (the app's lifespan), or on the first
    request when the app is mounted in a host app whose lifespan does not run it.

    Raises:
        ImportError: fastapi is not installed; install ``llmreg-gateway``.
        ConfigError: a key reference or the keys file is invalid, or no URI is given.
    """
    try:
        from llmreg_gateway.app import build_app
    except ImportError as exc:  # pragma: no cover - the serve extra is missing
        raise ImportError(
            f"serving needs fastapi and uvicorn ({exc}): pip install llmreg-gateway"
        ) from exc
    from llmreg_gateway.auth import KeyRing
    from llmreg_gateway.registry import ServedModels, alias_finder

    keys = KeyRing.build(api_keys, keys_file, admin_key, no_auth=no_auth)
    uris = [model_uri] if isinstance(model_uri, str) else list(model_uri)
    discover = None
    if alias is not None:
        discover = alias_finder(_alias_register(register, manager), check_alias(alias, ConfigError))
    served = ServedModels(uris, loader=loader, manager=manager, discover=discover)
    app = build_app(
        served,
        reload_interval=reload_interval,
        max_body_bytes=max_body_bytes,
        keys=keys,
        access_log=access_log,
        metrics=metrics,
        protect_ready=protect_ready,
        protect_metrics=protect_metrics,
        discover_interval=discover_interval,
    )
    # What another process needs to build the same app (llmreg serve --workers): the
    # settings as given, keys as their references; a Loader or register object is not
    # carried (the workers use the plugins' defaults then).
    app.state.llmreg_settings = {
        "model_uri": uris,
        "alias": alias,
        "register": dict(register) if isinstance(register, Mapping) else None,
        "discover_interval": discover_interval,
        "loader": dict(loader) if isinstance(loader, Mapping) else None,
        "reload_interval": reload_interval,
        "max_body_bytes": max_body_bytes,
        "api_keys": list(api_keys),
        "keys_file": None if keys_file is None else os.fspath(keys_file),
        "admin_key": admin_key,
        "no_auth": no_auth,
        "protect_ready": protect_ready,
        "protect_metrics": protect_metrics,
        "access_log": access_log,
        "metrics": metrics,
    }
    return app


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
    # ServedModel imports pydantic: only on use, so that loading the plugin stays light.
    if name == "ServedModel":
        from llmreg_gateway.model import ServedModel

        return ServedModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServedModel", "create_app"]
