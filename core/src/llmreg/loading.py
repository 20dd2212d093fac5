"""Loading plugins safely: entry points found, filtered, checked, imported, hooks called.

For each ``llmreg`` entry point (:mod:`llmreg.discovery`), before importing anything,
the allow and block lists apply (``LLMREG_LOAD_PLUGINS``, ``LLMREG_DISABLE_PLUGINS``:
distribution or entry-point names compared the PEP 503 way, ``*`` blocks all) and its
requirement on ``llmreg`` is checked (:mod:`llmreg.compat`). A plugin that raises, on
import or in a hook, is recorded and warned about, never crashing the host, unless
``LLMREG_STRICT_PLUGINS`` is true (``1``, ``true``, ``yes``, ``on``).
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pluggy

from llmreg import discovery, hookspecs
from llmreg.compat import incompatible
from llmreg.discovery import ENV_DISABLE, ENV_LOAD, ENV_STRICT, env_flag, normalize
from llmreg.errors import PluginLoadError

if TYPE_CHECKING:
    from llmreg.names import Names


class LlmregPluginWarning(UserWarning):
    """Warned when a plugin is skipped or fails to load."""


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that was not loaded, or not wholly, and why."""

    name: str
    distribution: str | None
    version: str | None
    status: Literal["failed", "incompatible", "blocked", "not-allowed"]
    reason: str


class PluginHost:
    """Loads the plugins of one host, safely: the base of :class:`~llmreg.manager.PluginManager`.

    Args:
        autoload: load entry-point plugins on first use (tests turn it off, see
            :mod:`llmreg.testing`).
        load_plugins: allow list; ``None`` reads ``LLMREG_LOAD_PLUGINS``.
        disable_plugins: block list; ``None`` reads ``LLMREG_DISABLE_PLUGINS``.
        strict: raise on a plugin that fails to load; ``None`` reads ``LLMREG_STRICT_PLUGINS``.
    """

    def __init__(
        self,
        *,
        autoload: bool = True,
        load_plugins: str | None = None,
        disable_plugins: str | None = None,
        strict: bool | None = None,
    ) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._autoload = autoload
        env = os.environ.get
        self._allow = discovery.env_names(env(ENV_LOAD) if load_plugins is None else load_plugins)
        block = env(ENV_DISABLE) if disable_plugins is None else disable_plugins
        self._block = discovery.env_names(block) or set()
        self._strict = env_flag(env(ENV_STRICT)) if strict is None else strict
        self._lock = threading.RLock()
        self._loaded = False
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._problems: list[PluginProblem] = []
        self._names: Names | None = None  # what the plugins registered, collected on use

    @property
    def pluggy(self) -> pluggy.PluginManager:
        """The underlying :class:`pluggy.PluginManager` (for hook-call monitoring)."""
        return self._pm

    # --- loading -----------------------------------------------------------

    def load(self) -> None:
        """Load entry-point plugins once; safe to call twice and from several threads.

        Raises:
            PluginLoadError: in strict mode, the first plugin that failed (on every call).
        """
        with self._lock:
            if self._loaded:
                return
            if self._autoload:
                self._load_entry_points()
            self._check_pending()
            self._loaded = True  # only now: in strict mode the next call tries again

    def _load_entry_points(self) -> None:
        seen: set[tuple[str, str]] = set()
        for ep in discovery.find(hookspecs.PROJECT):
            dist, version = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
            key = (normalize(dist or ""), ep.name)
            if key in seen or ep.name in self._dists:
                continue  # a duplicate path entry, or loaded by an earlier, failed attempt
            seen.add(key)
            names = {normalize(dist or ep.name), normalize(ep.name)}
            if (skipped := discovery.excluded(names, self._allow, self._block)) is not None:
                self._problems.append(PluginProblem(ep.name, dist, version, *skipped))  # type: ignore[arg-type]
                continue
            requires = (ep.dist.requires or []) if ep.dist else []
            if (error := incompatible(dist or ep.name, version, requires)) is not None:
                self._fail(error, ep.name, dist, version, status="incompatible")
                continue
            try:
                self.register_plugin(ep.load(), name=ep.name, distribution=dist, version=version)
            except Exception as exc:
                err = PluginLoadError(
                    f"plugin {ep.name} from {dist} {version} failed to load: "
                    f"{type(exc).__name__}: {exc}. Fix or uninstall it, or block it with "
                    f"{ENV_DISABLE}={dist}"
                )
                self._fail(err, ep.name, dist, version, cause=exc)

    def _fail(
        self,
        err: PluginLoadError,
        name: str,
        dist: str | None,
        version: str | None,
        *,
        status: Literal["failed", "incompatible"] = "failed",
        cause: BaseException | None = None,
    ) -> None:
        if self._strict:
            raise err from cause
        self._problems.append(PluginProblem(name, dist, version, status, str(err)))
        warnings.warn(str(err), LlmregPluginWarning, stacklevel=4)

    def _check_pending(self) -> None:
        for hook_name in dir(self._pm.hook):
            caller = getattr(self._pm.hook, hook_name)
            if not hook_name.startswith("llmreg_") or caller.spec is not None:
                continue
            for impl in caller.get_hookimpls():
                dist, version = self._dists.get(impl.plugin_name, (None, None))
                self._pm.unregister(impl.plugin)
                err = PluginLoadError(
                    f"plugin {impl.plugin_name} implements unknown hook {hook_name}: "
                    "check the name against llmreg.hookspecs"
                )
                self._fail(err, impl.plugin_name, dist, version)
        self._pm.check_pending()

    def register_plugin(
        self,
        plugin: object,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> str:
        """Register a plugin object (a module or an instance with hook implementations).

        Returns:
            The name the plugin is registered under.
        """
        with self._lock:
            if self._pm.is_registered(plugin):
                # the same object again (the echo module that its entry point also loads)
                return str(self._pm.get_name(plugin))
            registered = self._pm.register(plugin, name=name)
            if registered is None:
                raise PluginLoadError(f"plugin {name or plugin!r} is already registered or blocked")
            self._dists[registered] = (distribution, version)
            self._names = None
            return registered

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        with self._lock:
            self._pm.unregister(name=name)
            self._dists.pop(name, None)
            self._names = None

    def cli_setup(self, debug: bool) -> list[hookspecs.CliSetup]:
        """Call every plugin's ``llmreg_cli_setup``; a plugin that raises is warned about."""
        self.load()
        out: list[hookspecs.CliSetup] = []
        plugins = [(n, p) for n, p in self._pm.list_name_plugin() if p is not None]
        for name, _ in plugins:
            others = [p for n, p in plugins if n != name]
            caller = self._pm.subset_hook_caller("llmreg_cli_setup", remove_plugins=others)
            try:
                out.extend(r for r in caller(debug=debug) if isinstance(r, hookspecs.CliSetup))
            except Exception as exc:
                dist, version = self._dists.get(name, (None, None))
                err = PluginLoadError(
                    f"plugin {name} (distribution {dist or 'unknown'}) failed in "
                    f"llmreg_cli_setup: {type(exc).__name__}: {exc}"
                )
                self._fail(err, name, dist, version, cause=exc)
        return out


__all__ = ["LlmregPluginWarning", "PluginHost", "PluginProblem"]
