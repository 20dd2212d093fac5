"""The plugin manager: one per host, it loads plugins and answers for their KINDs and providers.

:func:`get_plugin_manager` returns a lazily created default; :func:`create_plugin_manager`
makes an independent one (a host app, a test). Every component a manager builds holds
that manager, so a host with its own manager is isolated from the process-wide one.
The jobs live apart: finding plugins (:mod:`llmreg.discovery`), checking their
requirement on the core (:mod:`llmreg.compat`), loading them (:mod:`llmreg.loading`),
the registry of names (:mod:`llmreg.names`) and building components (:mod:`llmreg.building`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

from llmreg import building
from llmreg.discovery import ENV_DISABLE, normalize
from llmreg.errors import PluginLoadError
from llmreg.loading import LlmregPluginWarning, PluginHost, PluginProblem
from llmreg.names import (
    KNOWN_DISTRIBUTIONS,
    ROLE_HOOKS,
    TABLES,
    Conflict,
    Names,
    Registration,
    collect_plugin,
    describe,
)
from llmreg.version import __version__

if TYPE_CHECKING:
    from llmreg.bases import Component, Loader, Register, Saver
    from llmreg.client import Client
    from llmreg.definition import ModelDefinition
    from llmreg.names import Role


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin, as ``llmreg plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    kinds: dict[str, list[str]] = field(default_factory=dict)
    providers: list[str] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


class PluginManager(PluginHost):
    """The plugins of one host (loaded as :class:`~llmreg.loading.PluginHost` does, with
    its arguments), what they registered, and the components built from them."""

    # --- the registry of names ----------------------------------------------

    @property
    def names(self) -> Names:
        """What the loaded plugins registered (collected on first use)."""
        with self._lock:
            self.load()
            if self._names is None:
                self._names = Names(self._collect(), self._problem_hints())
            return self._names

    def _collect(self) -> dict[str, dict[str, list[Registration]]]:
        tables: dict[str, dict[str, list[Registration]]] = {t: {} for t in TABLES}
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            dist, version = self._dists.get(name, (None, None))
            try:
                found = collect_plugin(self._pm, name, dist)
            except Exception as exc:
                err = PluginLoadError(
                    f"plugin {name} (distribution {dist or 'unknown'}) failed while "
                    f"registering: {describe(exc)}. Fix or uninstall it, or block it with "
                    f"{ENV_DISABLE}={dist or name}"
                )
                self._fail(err, name, dist, version, cause=exc)
                continue
            for table, regs in found.items():
                for reg in regs:
                    tables[table].setdefault(reg.name, []).append(reg)
        return tables

    def _problem_hints(self) -> list[tuple[str, str]]:
        return [(p.distribution or p.name, p.reason) for p in self._problems]

    def resolve(self, table: str, name: str) -> Any:
        """Return the class, factory or default config registered as ``name`` in ``table``.

        Raises:
            UnknownKindError: nothing is registered under ``name``.
            PluginConflictError: two plugins registered it.
            PluginLoadError: its import path does not import, or names no fitting class.
        """
        return self.names.resolve(table, name)

    def kinds(self, role: Role) -> dict[str, Registration]:
        """Return the registrations of one role, keyed by KIND (the first of a conflict)."""
        return self.names.first(role)

    def providers(self) -> dict[str, Registration]:
        """Return the registered provider factories, keyed by provider name."""
        return self.names.first("provider")

    def commands(self) -> dict[str, Registration]:
        """Return the CLI commands plugins contribute, keyed by command name."""
        return self.names.first("command")

    def conflicts(self) -> list[Conflict]:
        """Return every name that more than one plugin registered."""
        return self.names.conflicts()

    def default(self, role: str) -> dict[str, Any]:
        """Return the default component config of ``role`` (``serve.loader`` falls back to
        ``loader``).

        Raises:
            UnknownKindError: no installed plugin gives one. PluginConflictError: two do.
        """
        if role == "serve.loader" and role not in self.names.tables["default"]:
            role = "loader"
        return dict(self.resolve("default", role))

    # --- building ----------------------------------------------------------

    def component_class(self, role: Role, kind: str) -> type[Component]:
        """Return the class registered for ``kind`` in ``role``.

        Raises:
            UnknownKindError: no plugin provides it. PluginConflictError: two do.
        """
        return cast("type[Component]", self.resolve(role, kind))

    def build(self, role: Role, config: Mapping[str, Any] | Component) -> Component:
        """Validate a config naming a KIND into the registered class, bound to this manager.

        Raises:
            UnknownKindError: the KIND is not installed.
            ConfigError: the config is not an object, lacks ``KIND``, or a field is invalid.
        """
        return building.build(self, role, config)

    def _component(self, role: Role, config: Mapping[str, Any] | None) -> Any:
        return self.build(role, self.default(role) if config is None else config)

    def saver(self, config: Mapping[str, Any] | None = None) -> Saver:
        """Build a :class:`Saver` from a config (default: the installed default saver)."""
        return cast("Saver", self._component("saver", config))

    def loader(self, config: Mapping[str, Any] | None = None) -> Loader:
        """Build a :class:`Loader` from a config (default: the installed default loader)."""
        return cast("Loader", self._component("loader", config))

    def register(self, config: Mapping[str, Any] | None = None) -> Register:
        """Build a :class:`Register` from a config (default: the installed default register)."""
        return cast("Register", self._component("register", config))

    def client_factory(self, provider: str) -> Callable[[ModelDefinition], Client]:
        """Return the factory registered for ``provider``.

        Raises:
            UnknownKindError: no plugin provides it. PluginConflictError: two do.
        """
        return cast("Callable[[ModelDefinition], Client]", self.resolve("provider", provider))

    def client(self, definition: ModelDefinition | Mapping[str, Any]) -> Client:
        """Build the :class:`~llmreg.client.Client` for a definition (or a dict validated into one).

        Raises:
            ConfigError: ``definition`` is neither, or does not validate.
            UnknownKindError: no installed plugin provides its provider.
            PluginContractError: the provider's factory returned no ``Client``.
        """
        return building.client(self, definition)

    # --- reporting ---------------------------------------------------------

    @property
    def problems(self) -> list[PluginProblem]:
        """Plugins that were skipped or failed, and why."""
        self.names  # noqa: B018 - collecting may record more problems
        return list(self._problems)

    def plugins(self) -> list[PluginInfo]:
        """Describe every loaded plugin: distribution, version, hooks, KINDs, providers."""
        names = self.names
        infos = []
        for name, plugin in sorted(self._pm.list_name_plugin(), key=lambda p: str(p[0])):
            if plugin is None:
                continue
            hooks = sorted(c.name for c in self._pm.get_hookcallers(plugin) or [])
            kinds = {role: names.owned_by(name, role) for role in ROLE_HOOKS}
            infos.append(
                PluginInfo(
                    name,
                    *self._dists.get(name, (None, None)),
                    hooks,
                    {r: k for r, k in kinds.items() if k},
                    names.owned_by(name, "provider"),
                    names.owned_by(name, "default"),
                    names.owned_by(name, "command"),
                )
            )
        return infos

    def report(self) -> dict[str, Any]:
        """Return plugins, problems and conflicts as a JSON-ready dict (``plugins --json``)."""
        return {
            "llmreg": __version__,
            "plugins": [asdict(p) for p in self.plugins()],
            "problems": [asdict(p) for p in self.problems],
            "conflicts": [asdict(c) for c in self.conflicts()],
        }


_default: PluginManager | None = None
_default_lock = threading.Lock()


def create_plugin_manager(**kwargs: Any) -> PluginManager:
    """Create an independent :class:`PluginManager`; see its arguments."""
    return PluginManager(**kwargs)


def get_plugin_manager() -> PluginManager:
    """Return this process's default manager, created (not loaded) on first call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginManager()
        return _default


def set_plugin_manager(manager: PluginManager | None) -> None:
    """Replace the default manager (``None`` resets it). For hosts and tests."""
    global _default
    with _default_lock:
        _default = manager


__all__ = [
    "KNOWN_DISTRIBUTIONS",
    "LlmregPluginWarning",
    "PluginInfo",
    "PluginManager",
    "PluginProblem",
    "create_plugin_manager",
    "get_plugin_manager",
    "normalize",
    "set_plugin_manager",
]
