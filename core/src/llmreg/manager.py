"""The plugin manager: finds plugins, loads them safely, and resolves KINDs and providers.

One :class:`PluginManager` per host. :func:`get_plugin_manager` returns a
lazily created default; :func:`create_plugin_manager` makes an independent one
(a host app, a test). Every component a manager builds holds that manager
(:attr:`llmreg.bases.Component.manager`), so a host with its own manager is
isolated from the process-wide one. Importing this module does nothing but
define names.

Loading walks the entry-point group ``llmreg`` through importlib-metadata and,
for each plugin, *before importing anything*:

1. applies the allow list ``LLMREG_LOAD_PLUGINS`` (comma-separated names; an
   empty string loads no plugin) and the block list ``LLMREG_DISABLE_PLUGINS``
   (``*`` blocks all). A name is a distribution name (``llmreg-pyfunc``) or an
   entry-point name (``pyfunc``, what ``llmreg plugins`` shows first), compared
   the PEP 503 way;
2. checks the distribution's requirement on ``llmreg`` against the running core;
3. imports the entry point. A plugin that raises, on import or in a hook, is
   recorded and warned about, never crashing the host, unless
   ``LLMREG_STRICT_PLUGINS`` is true (``1``, ``true``, ``yes``, ``on``).

What plugins register is collected on first use, keyed by KIND or provider
name. The same name from two plugins is a conflict: ``llmreg plugins`` lists
both, and only what uses that name fails, with a
:class:`~llmreg.errors.PluginConflictError` that names both.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import pluggy

from llmreg import hookspecs
from llmreg.errors import (
    ConfigError,
    IncompatiblePluginError,
    LlmregError,
    PluginConflictError,
    PluginContractError,
    PluginLoadError,
    UnknownKindError,
)
from llmreg.version import __version__

if TYPE_CHECKING:
    from llmreg.bases import Component, Loader, Register, Role, Saver
    from llmreg.client import Client
    from llmreg.definition import ModelDefinition

logger = logging.getLogger(__name__)

ENV_LOAD = "LLMREG_LOAD_PLUGINS"
ENV_DISABLE = "LLMREG_DISABLE_PLUGINS"
ENV_STRICT = "LLMREG_STRICT_PLUGINS"
#: The values of ``LLMREG_STRICT_PLUGINS`` that turn strict mode on (any case).
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})

ROLE_HOOKS: dict[Role, str] = {
    "saver": "llmreg_register_savers",
    "loader": "llmreg_register_loaders",
    "register": "llmreg_register_registers",
}
PROVIDER_HOOK = "llmreg_register_providers"
DEFAULTS_HOOK = "llmreg_defaults"
COMMANDS_HOOK = "llmreg_register_commands"
#: The tables registrations are collected into: the three roles, providers, defaults, commands.
TABLES = ("saver", "loader", "register", "provider", "default", "command")

#: Install hints: which distribution provides the KINDs and providers that llmreg
#: ships. Data only, used in error messages; the core never relies on them.
KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "saver:CustomSaver": "llmreg-pyfunc",
    "loader:CustomLoader": "llmreg-pyfunc",
    "register:MlflowRegister": "llmreg-mlflow",
    "provider:openai": "llmreg-litellm",
    "provider:litellm": "llmreg-litellm",
    "provider:llamacpp": "llmreg-llamacpp",
    "default:saver": "llmreg-pyfunc",
    "default:loader": "llmreg-pyfunc",
    "default:register": "llmreg-mlflow",
    "command:serve": "llmreg-gateway",
    "command:evaluate": "llmreg-pyfunc",
}


class LlmregPluginWarning(UserWarning):
    """Warned when a plugin is skipped or fails to load."""


def normalize(name: str) -> str:
    """Normalise a distribution or plugin name the PEP 503 way (``Foo_Bar`` -> ``foo-bar``)."""
    return _SEPARATORS.sub("-", name.strip()).lower()


#: Runs of the characters PEP 503 folds into one ``-`` (``packaging.utils.canonicalize_name``;
#: not imported: it costs the CLI's start tens of milliseconds).
_SEPARATORS = re.compile(r"[-_.]+")
#: The name at the start of a requirement string (PEP 508).
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def env_flag(value: str | None) -> bool:
    """Whether an environment value means *true*: ``1``, ``true``, ``yes`` or ``on``, any case."""
    return (value or "").strip().lower() in TRUE_VALUES


@dataclass
class Registration:
    """One class, provider factory or default that a plugin registered.

    ``obj`` is the class or factory, or an import path ``"module:attr"`` until
    :meth:`PluginManager.resolve` imports it.
    """

    name: str
    obj: Any
    plugin: str
    distribution: str | None


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


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that was not loaded, or not wholly, and why."""

    name: str
    distribution: str | None
    version: str | None
    status: Literal["failed", "incompatible", "blocked", "not-allowed"]
    reason: str


@dataclass(frozen=True)
class Conflict:
    """A name registered by more than one plugin."""

    table: str
    name: str
    by: list[str]


def _env_names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {normalize(v) for v in value.split(",") if v.strip()}


class PluginManager:
    """A typed wrapper around :class:`pluggy.PluginManager` for one host.

    Args:
        autoload: load entry-point plugins on first use. Tests turn it off and
            register plugins by hand (see :mod:`llmreg.testing`).
        load_plugins: allow list of distribution or entry-point names; ``None``
            reads ``LLMREG_LOAD_PLUGINS``.
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
        self._allow = _env_names(
            load_plugins if load_plugins is not None else os.environ.get(ENV_LOAD)
        )
        self._block = (
            _env_names(
                disable_plugins if disable_plugins is not None else os.environ.get(ENV_DISABLE)
            )
            or set()
        )
        self._strict = strict if strict is not None else env_flag(os.environ.get(ENV_STRICT))
        self._lock = threading.RLock()
        self._loaded = False
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._problems: list[PluginProblem] = []
        self._collected: dict[str, dict[str, list[Registration]]] | None = None

    @property
    def pluggy(self) -> pluggy.PluginManager:
        """The underlying :class:`pluggy.PluginManager` (for hook-call monitoring)."""
        return self._pm

    # --- loading -----------------------------------------------------------

    def load(self) -> None:
        """Load entry-point plugins once. Safe to call twice and from several threads.

        Raises:
            PluginLoadError: in strict mode, the first plugin that failed (on every call).
        """
        with self._lock:
            if self._loaded:
                return
            if self._autoload:
                self._load_entry_points()
            self._check_pending()
            # Only now: in strict mode a failure above raises, and the next call tries again.
            self._loaded = True

    def _wanted(self, names: set[str]) -> tuple[str, str] | None:
        """Return (status, reason) when the allow or block list excludes a plugin."""
        if "*" in self._block or names & self._block:
            return "blocked", f"blocked by {ENV_DISABLE}"
        if self._allow is not None and not names & self._allow:
            return "not-allowed", f"not listed in {ENV_LOAD}"
        return None

    def _load_entry_points(self) -> None:
        from llmreg.discovery import entry_points

        # read without importlib.metadata (its import costs the CLI's start), unless
        # the path holds what only importlib.metadata reads (zip files, eggs)
        found: Iterable[Any] | None = entry_points(hookspecs.PROJECT)
        if found is None:
            import importlib.metadata

            found = importlib.metadata.entry_points(group=hookspecs.PROJECT)
        seen: set[tuple[str, str]] = set()
        eps = sorted(found, key=lambda e: (e.dist.name if e.dist else "", e.name))
        for ep in eps:
            dist_name = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            key = (normalize(dist_name or ""), ep.name)
            if key in seen or ep.name in self._dists:
                continue  # a duplicate path entry, or loaded by an earlier, failed attempt
            seen.add(key)
            excluded = self._wanted({normalize(dist_name or ep.name), normalize(ep.name)})
            if excluded is not None:
                self._skip(ep.name, dist_name, version, *excluded)
                continue
            incompatible = self._incompatible(ep)
            if incompatible is not None:
                self._fail(incompatible, ep.name, dist_name, version, status="incompatible")
                continue
            try:
                module = ep.load()
                self.register_plugin(module, name=ep.name, distribution=dist_name, version=version)
            except Exception as exc:
                err = PluginLoadError(
                    f"plugin {ep.name} from {dist_name} {version} failed to load: "
                    f"{type(exc).__name__}: {exc}. Fix or uninstall it, or block it with "
                    f"{ENV_DISABLE}={dist_name}"
                )
                self._fail(err, ep.name, dist_name, version, cause=exc)

    @staticmethod
    def _incompatible(ep: Any) -> IncompatiblePluginError | None:
        for raw in (ep.dist.requires or []) if ep.dist else []:
            # Only a requirement on llmreg counts. It is split here and only its version
            # specifier is parsed: packaging.requirements costs the CLI's start 20-40 ms.
            named = _REQUIREMENT_NAME.match(raw)
            if named is None or normalize(named.group(1)) != "llmreg":
                continue
            spec, _, marker = raw[named.end() :].partition(";")
            spec = spec.strip()
            if spec.startswith("["):  # extras
                spec = spec.partition("]")[2].strip()
            if marker.strip() or spec.startswith("@"):
                continue  # conditional, or a direct URL: no version to check
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            try:
                specifier = SpecifierSet(spec.strip("() "))
            except InvalidSpecifier:
                continue
            if not specifier.contains(__version__, prereleases=True):
                return IncompatiblePluginError(
                    f"plugin {ep.dist.name} {ep.dist.version} requires llmreg{specifier}, "
                    f"but llmreg {__version__} is installed: upgrade the plugin or the core"
                )
        return None

    def _skip(
        self, name: str, dist: str | None, version: str | None, status: Any, reason: str
    ) -> None:
        self._problems.append(PluginProblem(name, dist, version, status, reason))
        logger.debug("plugin %s (%s) skipped: %s", name, dist, reason)

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
                # the same object again (a test registering the core's echo module that
                # its entry point also loads): one registration, under its first name
                return str(self._pm.get_name(plugin))
            registered = self._pm.register(plugin, name=name)
            if registered is None:
                raise PluginLoadError(f"plugin {name or plugin!r} is already registered or blocked")
            self._dists[registered] = (distribution, version)
            self._collected = None
            return registered

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        with self._lock:
            self._pm.unregister(name=name)
            self._dists.pop(name, None)
            self._collected = None

    # --- collection --------------------------------------------------------

    def _collect(self) -> dict[str, dict[str, list[Registration]]]:
        with self._lock:
            self.load()
            if self._collected is not None:
                return self._collected
            tables: dict[str, dict[str, list[Registration]]] = {t: {} for t in TABLES}
            for name, plugin in self._pm.list_name_plugin():
                if plugin is None:
                    continue
                try:
                    found = self._collect_plugin(name, plugin)
                except Exception as exc:
                    dist, version = self._dists.get(name, (None, None))
                    detail = (
                        str(exc)
                        if isinstance(exc, LlmregError)
                        else (f"{type(exc).__name__}: {exc}")
                    )
                    err = PluginLoadError(
                        f"plugin {name} (distribution {dist or 'unknown'}) failed while "
                        f"registering: {detail}. Fix or uninstall it, or block it with "
                        f"{ENV_DISABLE}={dist or name}"
                    )
                    self._fail(err, name, dist, version, cause=exc)
                    continue
                for table, regs in found.items():
                    for reg in regs:
                        tables[table].setdefault(reg.name, []).append(reg)
            self._collected = tables
            return tables

    def _collect_plugin(self, name: str, plugin: object) -> dict[str, list[Registration]]:
        """Call every registration hook of one plugin, through pluggy's call path."""
        dist = self._dists.get(name, (None, None))[0]
        others = [p for n, p in self._pm.list_name_plugin() if n != name and p is not None]
        found: dict[str, list[Registration]] = {t: [] for t in TABLES}
        hooks = [
            *ROLE_HOOKS.items(),
            ("provider", PROVIDER_HOOK),
            ("default", DEFAULTS_HOOK),
            ("command", COMMANDS_HOOK),
        ]
        for table, hook_name in hooks:
            got: list[tuple[Any, ...]] = []

            def register(
                *args: Any, _got: list[tuple[Any, ...]] = got, _hook: str = hook_name
            ) -> None:
                if len(args) not in (1, 2):
                    raise PluginLoadError(
                        f"register() was called with {len(args)} arguments in {_hook}: it takes "
                        "register(cls) or register('KIND', 'module:Class'); "
                        "register(name, factory) for providers; register(role, config) for defaults"
                    )
                _got.append(args)

            caller = self._pm.subset_hook_caller(hook_name, remove_plugins=others)
            caller(register=register)
            for args in got:
                found[table].append(self._registration(table, args, name, dist))
        return found

    def _registration(
        self, table: str, args: tuple[Any, ...], plugin: str, dist: str | None
    ) -> Registration:
        if table == "default":
            role, config = (*args, None)[:2]
            if role not in hookspecs.DEFAULT_ROLES or not isinstance(config, Mapping):
                raise PluginLoadError(
                    f"llmreg_defaults called register({role!r}, {config!r}): it takes a role "
                    f"({', '.join(hookspecs.DEFAULT_ROLES)}) and a config with a KIND"
                )
            if not isinstance(config.get("KIND"), str):
                raise PluginLoadError(f"the default {role} config {dict(config)!r} has no KIND")
            return Registration(role, dict(config), plugin, dist)
        if table in ("provider", "command"):
            name, factory = (*args, None)[:2]
            if (
                not isinstance(name, str)
                or not name
                or not (callable(factory) or _is_import_path(factory))
            ):
                raise PluginLoadError(
                    f"registered {table} {name!r} without a name and a target: call "
                    "register('name', obj) or register('name', 'module:attr')"
                )
            return Registration(name, factory, plugin, dist)
        role = cast("Role", table)
        if len(args) == 2:
            kind, path = args
            if not isinstance(kind, str) or not kind or not _is_import_path(path):
                raise PluginLoadError(
                    f"registered {role} {args!r}: write register(cls) or "
                    "register('KIND', 'module:Class')"
                )
            return Registration(kind, path, plugin, dist)
        return Registration(_kind_of(role, args[0]), args[0], plugin, dist)

    # --- lookups -----------------------------------------------------------

    def _lookup(self, table: str, name: str, what: str) -> Registration:
        regs = self._collect()[table].get(name)
        if not regs:
            raise self._unknown(what, table, name, self._collect()[table])
        if len(regs) > 1:
            raise PluginConflictError(
                f"{what} {name!r} is provided twice: "
                + " and ".join(
                    f"by plugin {r.plugin} (distribution {r.distribution or 'unknown'})"
                    for r in regs
                )
                + f". Uninstall one, or block it with {ENV_DISABLE}"
            )
        return regs[0]

    def resolve(self, table: str, name: str) -> Any:
        """Return the class, factory or default config registered as ``name`` in ``table``.

        An import path is imported now (once) and checked.

        Raises:
            UnknownKindError: nothing is registered under ``name``.
            PluginConflictError: two plugins registered it.
            PluginLoadError: the import path does not import, or names no fitting class.
        """
        what = {"provider": "provider", "default": "default", "command": "command"}.get(
            table, f"{table} KIND"
        )
        reg = self._lookup(table, name, what)
        if not isinstance(reg.obj, str) or table == "default":
            return reg.obj
        with self._lock:
            if isinstance(reg.obj, str):
                try:
                    obj = _import(reg.obj)
                    if table not in ("provider", "command"):
                        kind = _kind_of(cast("Role", table), obj)
                        if kind != name:
                            raise PluginLoadError(f"{reg.obj} has KIND {kind!r}, not {name!r}")
                    elif not callable(obj):
                        raise PluginLoadError(f"{reg.obj} is not callable")
                except Exception as exc:
                    detail = (
                        str(exc)
                        if isinstance(exc, LlmregError)
                        else (f"{type(exc).__name__}: {exc}")
                    )
                    raise PluginLoadError(
                        f"{what} {name!r} from plugin {reg.plugin} (distribution "
                        f"{reg.distribution or 'unknown'}) cannot be imported from "
                        f"{reg.obj!r}: {detail}. Reinstall or fix the plugin."
                    ) from exc
                reg.obj = obj
            return reg.obj

    def kinds(self, role: Role) -> dict[str, Registration]:
        """Return the registrations of one role, keyed by KIND (the first of a conflict)."""
        return {name: regs[0] for name, regs in self._collect()[role].items()}

    def providers(self) -> dict[str, Registration]:
        """Return the registered provider factories, keyed by provider name."""
        return {name: regs[0] for name, regs in self._collect()["provider"].items()}

    def commands(self) -> dict[str, Registration]:
        """Return the CLI commands plugins contribute, keyed by command name."""
        return {name: regs[0] for name, regs in self._collect()["command"].items()}

    def conflicts(self) -> list[Conflict]:
        """Return every name that more than one plugin registered."""
        return [
            Conflict(table, name, [f"{r.plugin} ({r.distribution or 'unknown'})" for r in regs])
            for table, names in self._collect().items()
            for name, regs in sorted(names.items())
            if len(regs) > 1
        ]

    def default(self, role: str) -> dict[str, Any]:
        """Return the default component config of ``role`` (see ``llmreg_defaults``).

        ``serve.loader`` falls back to ``loader``.

        Raises:
            UnknownKindError: no installed plugin gives a default for ``role``.
            PluginConflictError: two plugins give one.
        """
        table = self._collect()["default"]
        if role == "serve.loader" and role not in table:
            role = "loader"
        return dict(self.resolve("default", role))

    def _unknown(
        self, what: str, key: str, name: str, installed: Iterable[str]
    ) -> UnknownKindError:
        names = ", ".join(sorted(installed)) or "none"
        hint = ""
        dist = KNOWN_DISTRIBUTIONS.get(f"{key}:{name}")
        if dist:
            problem = next(
                (p for p in self._problems if normalize(p.distribution or "") == dist), None
            )
            if problem is not None:
                hint = f" It is provided by {dist}, which was not loaded: {problem.reason}."
            else:
                hint = f" Install {dist} to get it."
        elif self._problems:
            skipped = "; ".join(f"{p.distribution or p.name} ({p.reason})" for p in self._problems)
            hint = f" Plugins not loaded: {skipped}."
        if key == "default":
            return UnknownKindError(
                f"no installed plugin gives a default {name}; name one explicitly.{hint}"
            )
        return UnknownKindError(f"unknown {what} {name!r}; installed: {names}.{hint}")

    def component_class(self, role: Role, kind: str) -> type[Component]:
        """Return the class registered for ``kind`` in ``role``, importing it if registered by path.

        Raises:
            UnknownKindError: no plugin provides it; lists what is installed.
            PluginConflictError: two plugins provide it.
        """
        return cast("type[Component]", self.resolve(role, kind))

    def build(self, role: Role, config: Mapping[str, Any] | Component) -> Component:
        """Validate a config naming a KIND into the registered class, bound to this manager.

        Raises:
            UnknownKindError: the KIND is not installed.
            ConfigError: the config is not an object, lacks ``KIND``, or a field is invalid.
        """
        from pydantic import ValidationError

        from llmreg.bases import Component

        if isinstance(config, Component):
            if not isinstance(config, role_base(role)):
                raise ConfigError(f"{type(config).__name__} is not a {role}")
            if config._manager is None:
                config.bind(self)
            return config
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"a {role} config must be an object with a KIND, not {type(config).__name__}"
            )
        kind = config.get("KIND")
        if not isinstance(kind, str):
            installed = ", ".join(sorted(self._collect()[role])) or "none"
            raise ConfigError(f"a {role} config needs a KIND; installed: {installed}")
        cls = self.component_class(role, kind)
        try:
            built = cls.model_validate(dict(config))
        except ValidationError as exc:
            from llmreg.definition import describe_validation_error

            raise ConfigError(describe_validation_error(exc, f"{role} config {kind}")) from None
        built.bind(self)
        return built

    def saver(self, config: Mapping[str, Any] | None = None) -> Saver:
        """Build a :class:`Saver` from a config such as ``{"KIND": "FolderSaver"}`` (default:
        the installed default saver)."""
        return cast(
            "Saver", self.build("saver", self.default("saver") if config is None else config)
        )

    def loader(self, config: Mapping[str, Any] | None = None) -> Loader:
        """Build a :class:`Loader` from a config (default: the installed default loader)."""
        return cast(
            "Loader", self.build("loader", self.default("loader") if config is None else config)
        )

    def register(self, config: Mapping[str, Any] | None = None) -> Register:
        """Build a :class:`Register` from a config (default: the installed default register)."""
        return cast(
            "Register",
            self.build("register", self.default("register") if config is None else config),
        )

    def client_factory(self, provider: str) -> Callable[[ModelDefinition], Client]:
        """Return the factory registered for ``provider``.

        Raises:
            UnknownKindError: no plugin provides it.
            PluginConflictError: two plugins provide it.
        """
        return cast("Callable[[ModelDefinition], Client]", self.resolve("provider", provider))

    def client(self, definition: ModelDefinition | Mapping[str, Any]) -> Client:
        """Build the :class:`~llmreg.client.Client` for a model definition.

        Args:
            definition: a :class:`~llmreg.definition.ModelDefinition`, or a dict validated into one.

        Raises:
            ConfigError: ``definition`` is neither, or does not validate.
            UnknownKindError: no installed plugin provides its provider.
            PluginContractError: the provider's factory returned no ``Client``.
        """
        from llmreg.client import Client
        from llmreg.definition import ModelDefinition

        if isinstance(definition, Mapping) and not isinstance(definition, ModelDefinition):
            definition = ModelDefinition.from_dict(dict(definition))
        if not isinstance(definition, ModelDefinition):
            raise ConfigError(
                "a client is built from a ModelDefinition or a dict with at least 'model', "
                f"not {type(definition).__name__}"
            )
        client = self.client_factory(definition.provider)(definition)
        if not isinstance(client, Client):
            reg = self._lookup("provider", definition.provider, "provider")
            raise PluginContractError(
                f"provider {definition.provider!r} of plugin {reg.plugin} (distribution "
                f"{reg.distribution or 'unknown'}) returned {type(client).__name__}, not a "
                "llmreg.Client"
            )
        return client

    def cli_setup(self, debug: bool) -> list[hookspecs.CliSetup]:
        """Call every plugin's ``llmreg_cli_setup``; a plugin that raises is warned about."""
        self.load()
        out: list[hookspecs.CliSetup] = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            others = [p for n, p in self._pm.list_name_plugin() if n != name and p is not None]
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

    # --- reporting ---------------------------------------------------------

    @property
    def problems(self) -> list[PluginProblem]:
        """Plugins that were skipped or failed, and why."""
        self._collect()
        return list(self._problems)

    def plugins(self) -> list[PluginInfo]:
        """Describe every loaded plugin: distribution, version, hooks, KINDs, providers."""
        tables = self._collect()
        infos = []
        for name, plugin in sorted(self._pm.list_name_plugin(), key=lambda p: str(p[0])):
            if plugin is None:
                continue
            dist, version = self._dists.get(name, (None, None))
            hooks = sorted(c.name for c in self._pm.get_hookcallers(plugin) or [])

            def mine(table: str, _name: str = name) -> list[str]:
                return sorted(
                    k for k, regs in tables[table].items() if any(r.plugin == _name for r in regs)
                )

            kinds = {role: mine(role) for role in ROLE_HOOKS}
            infos.append(
                PluginInfo(
                    name,
                    dist,
                    version,
                    hooks,
                    {r: k for r, k in kinds.items() if k},
                    mine("provider"),
                    mine("default"),
                    mine("command"),
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


def _is_import_path(value: Any) -> bool:
    return isinstance(value, str) and value.count(":") == 1 and all(value.split(":"))


def _import(path: str) -> Any:
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def role_base(role: Role) -> type[Component]:
    """The base class of ``role``: :class:`~llmreg.bases.Saver`, ``Loader`` or ``Register``.

    Imported on use: the bases are pydantic models, which ``llmreg plugins`` never needs.
    """
    from llmreg.bases import Loader, Register, Saver

    bases: dict[str, type[Component]] = {"saver": Saver, "loader": Loader, "register": Register}
    return bases[role]


def _kind_of(role: Role, cls: Any) -> str:
    base = role_base(role)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginLoadError(
            f"{cls!r} was registered as a {role}, but it is not a subclass of "
            f"llmreg.{base.__name__}"
        )
    kind = cls.model_fields["KIND"].default if "KIND" in cls.model_fields else None
    if not isinstance(kind, str) or not kind:
        raise PluginLoadError(
            f"{cls.__name__} was registered without a KIND: declare "
            f'KIND: Literal["{cls.__name__}"] = "{cls.__name__}"'
        )
    return kind


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
