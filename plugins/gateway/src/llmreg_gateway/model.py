"""The model a serving app holds: loaded once through a Loader, reloaded when its alias moves."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmreg.bases import Adapter, Loader
from llmreg.errors import InvalidModelURIError
from llmreg.manager import PluginManager, get_plugin_manager
from llmreg.results import check_result
from llmreg.secrets import redact
from llmreg.uris import parse_model_uri

if TYPE_CHECKING:
    from llmreg_gateway.rollout.routing import ArmChoice

logger = logging.getLogger(__name__)

#: The default role the serving app's loader comes from (see ``llmreg_defaults``): a
#: plugin registers one that always asks its registry, so that a reload (the poll
#: or ``POST /admin/reload``) sees where an alias points now.
SERVE_LOADER_ROLE = "serve.loader"


def _registered_name(uri: str) -> str | None:
    """The registered model name of a ``models:/NAME/N`` or ``models:/NAME@ALIAS`` URI."""
    try:
        return parse_model_uri(uri).name if uri.startswith("models:/") else None
    except InvalidModelURIError:  # another loader's URI scheme: it names no registered model
        return None


class ServedModel:
    """One model URI and the :class:`~llmreg.Adapter` currently loaded for it.

    Loading goes through the load hook, ``manager.loader(config).load(uri)``, so
    any plugin's Loader can be served. Loads and reloads are serialised; readers
    take :attr:`adapter` without a lock (the swap is one assignment).

    Args:
        model_uri: the URI to load.
        loader: a loader config or a Loader; default the ``serve.loader`` (else
            ``loader``) default that an installed plugin registers.
        manager: the plugin manager that builds the loader; default the process's own.
            A host with its own manager passes it, and nothing else is loaded.
    """

    def __init__(
        self,
        model_uri: str,
        *,
        loader: Mapping[str, Any] | Loader | None = None,
        manager: PluginManager | None = None,
    ) -> None:
        self.model_uri = model_uri
        self._loader_config = loader
        self._manager = manager
        self._lock = threading.Lock()
        self._adapter: Adapter | None = None
        self.loaded_at: int | None = None
        #: The last load's error (type and message), secrets of the loaded model masked.
        self.last_error: str | None = None
        #: The registered model name in a ``models:/NAME...`` URI, else ``None``.
        self.name: str | None = _registered_name(model_uri)
        #: The rollout arm this pinned version answers for (set by the router), if any.
        self.arm: ArmChoice | None = None

    @property
    def resolved_uri(self) -> str:
        """``models:/NAME/V`` of the version answering now (the served URI when unknown)."""
        version = self.version
        if self.name and version:
            return f"models:/{self.name}/{version}"
        return self.model_uri

    @property
    def is_alias(self) -> bool:
        """Whether the URI names an alias (``...@alias``), which can move."""
        return "@" in self.model_uri

    @property
    def adapter(self) -> Adapter | None:
        """The loaded adapter, or ``None`` before the first successful load."""
        return self._adapter

    @property
    def info(self) -> dict[str, Any]:
        """What the loaded adapter knows of itself (version, alias, run id), or ``{}``."""
        adapter = self._adapter
        return dict(adapter.info) if adapter is not None else {}

    def redact(self, text: str) -> str:
        """Return ``text`` with the loaded model's secrets (every form) and URL userinfo masked."""
        adapter = self._adapter
        definition = adapter.definition if adapter is not None else None
        return redact(text, definition.resolved_secrets() if definition is not None else [])

    @property
    def alias(self) -> str | None:
        """The alias of a ``models:/NAME@ALIAS`` URI, else ``None``."""
        if self.name is None or "@" not in self.model_uri:
            return None
        return self.model_uri.rsplit("@", 1)[1] or None

    @property
    def ids(self) -> tuple[str, ...]:
        """The names a request's ``model`` may use: the URI, the registered name and
        ``name@alias`` (for an alias URI), in that order."""
        names = [self.model_uri]
        if self.name:
            names.append(self.name)
            if self.alias:
                names.append(f"{self.name}@{self.alias}")
        return tuple(dict.fromkeys(names))

    @property
    def version(self) -> str | None:
        """The registered version answering now (from the adapter's info), else ``None``."""
        version = self.info.get("version")
        return None if version is None else str(version)

    def accepts(self, model: str | None) -> bool:
        """Whether a request's ``model`` names this model (see :attr:`ids`)."""
        return model is None or model in self.ids

    def _loader(self) -> Loader:
        config = self._loader_config
        if isinstance(config, Loader):
            return config
        manager = self._manager or get_plugin_manager()
        return manager.loader(config if config is not None else manager.default(SERVE_LOADER_ROLE))

    def load(self) -> Adapter:
        """Return the adapter, loading it first if nothing is loaded yet.

        Raises:
            LlmregError: the typed error of the loader (not found, bad URI, ...).
        """
        adapter = self._adapter
        if adapter is not None:
            return adapter
        with self._lock:
            if self._adapter is None:
                self._swap(self._load_now())
            assert self._adapter is not None
            return self._adapter

    def reload(self) -> dict[str, Any]:
        """Load the URI again and swap the adapter in; the old one serves until then.

        Returns:
            ``{"changed", "previous", "current"}``: whether another model is now
            served, and the adapter info before and after.

        Raises:
            LlmregError: the load failed; the previous adapter keeps serving.
        """
        with self._lock:
            previous = self._adapter
            before = dict(previous.info) if previous is not None else {}
            adapter = self._load_now()
            after = dict(adapter.info)
            changed = adapter is not previous and (before != after or not before)
            self._swap(adapter)
        if previous is not None and previous is not adapter:
            _close(previous)
        if changed:
            logger.info(
                "alias swap: serving %s now answers with version %s (was %s); info %s",
                self.model_uri,
                after.get("version"),
                before.get("version"),
                after,
            )
        return {"changed": changed, "previous": before, "current": after}

    def _load_now(self) -> Adapter:
        try:
            loader = self._loader()
            adapter: Adapter = check_result(
                loader.load(self.model_uri), Adapter, f"{loader.KIND}.load()"
            )
        except Exception as exc:
            # Masked with the secrets known now: those of the model still loaded, if any.
            self.last_error = self.redact(f"{type(exc).__name__}: {exc}")
            raise
        self.last_error = None
        return adapter

    def _swap(self, adapter: Adapter) -> None:
        self._adapter = adapter
        self.loaded_at = int(time.time())

    def close(self) -> None:
        """Close the loaded adapter (the app's shutdown calls this). Safe to call twice."""
        with self._lock:
            adapter, self._adapter = self._adapter, None
        if adapter is not None:
            _close(adapter)


def _close(adapter: Adapter) -> None:
    """Close an adapter that is no longer served; a failing close is logged, not raised.

    Requests still running on it finish: an adapter's client is leased, and the
    loader closes it once nothing holds it.
    """
    try:
        adapter.close()
    except Exception:
        logger.warning("closing a replaced model's adapter failed", exc_info=True)


__all__ = ["SERVE_LOADER_ROLE", "ServedModel"]
