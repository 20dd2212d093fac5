"""The plugin manager: finds plugins, loads them safely, and resolves KINDs and providers.

One :class:`PluginManager` per host. :func:`get_plugin_manager` returns a
lazily created default; :func:`create_plugin_manager` makes an independent one
(a host app, a test). Importing this module does nothing but define names.

Loading walks the entry-point group ``llmreg`` through importlib-metadata and,
for each plugin distribution, *before importing anything*:

1. applies the allow list ``LLMREG_LOAD_PLUGINS`` (comma-separated distribution
   names; an empty string loads no plugin) and the block list
   ``LLMREG_DISABLE_PLUGINS`` (``*`` blocks all);
2. checks the distribution's requirement on ``llmreg`` against the running core;
3. imports the entry point. A plugin that raises is recorded and warned about,
   never crashing the host, unless ``LLMREG_STRICT_PLUGINS=1``.

Then :meth:`pluggy.PluginManager.check_pending` runs. What plugins register is
collected on first use, keyed by KIND or provider name; the same name from two
plugins is a :class:`~llmreg.errors.PluginConflictError` that names both.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import pluggy
from pydantic import TypeAdapter, ValidationError

from llmreg import hookspecs
from llmreg.bases import Component, Loader, Register, Role, Saver
from llmreg.definition import ModelDefinition, describe_validation_error
from llmreg.errors import (
    ConfigError,
    IncompatiblePluginError,
    PluginConflictError,
    PluginLoadError,
    UnknownKindError,
)
from llmreg.version import __version__

logger = logging.getLogger(__name__)

ENV_LOAD = "LLMREG_LOAD_PLUGINS"
ENV_DISABLE = "LLMREG_DISABLE_PLUGINS"
ENV_STRICT = "LLMREG_STRICT_PLUGINS"

ROLE_BASES: dict[Role, type[Component]] = {"saver": Saver, "loader": Loader, "register": Register}
ROLE_HOOKS: dict[Role, str] = {
    "saver": "llmreg_register_savers",
    "loader": "llmreg_register_loaders",
    "register": "llmreg_register_registers",
}
PROVIDER_HOOK = "llmreg_register_providers"

#: Which distribution provides the KINDs and providers that llmreg ships, for error hints.
KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "saver:CustomSaver": "llmreg-pyfunc",
    "loader:CustomLoader": "llmreg-pyfunc",
    "register:MlflowRegister": "llmreg-mlflow",
    "provider:openai": "llmreg-litellm",
    "provider:llamacpp": "llmreg-llamacpp",
}


class LlmregPluginWarning(UserWarning):
    """Warned when a plugin is skipped or fails to load."""


def normalize(name: str) -> str:
    """Normalise a distribution name the PEP 503 way (``Foo_Bar`` -> ``foo-bar``)."""
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


@dataclass(frozen=True)
class Registration:
    """One class or provider factory that a plugin registered."""

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


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that was not loaded, and why."""

    name: str
    distribution: str | None
    version: str | None
    status: Literal["failed", "incompatible", "blocked", "not-allowed"]
    reason: str


def _env_names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {normalize(v) for v in value.split(",") if v.strip()}


class PluginManager:
    """A typed wrapper around :class:`pluggy.PluginManager` for one host.

    Args:
        autoload: load entry-point plugins on first use. Tests turn it off and
            register plugins by hand (see :mod:`llmreg.testing`).
        load_plugins: allow list of distribution names; ``None`` reads ``LLMREG_LOAD_PLUGINS``.
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
        self._strict = strict if strict is not None else os.environ.get(ENV_STRICT, "") == "1"
        self._lock = threading.RLock()
        self._loaded = False
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._problems: list[PluginProblem] = []
        self._collected: dict[str, dict[str, Registration]] | None = None
        self._adapters: dict[Role, TypeAdapter[Any]] = {}

    # --- loading -----------------------------------------------------------

    def load(self) -> None:
        """Load entry-point plugins once. Safe to call twice and from several threads."""
        with self._lock:
            if self._loaded:
                return
            if self._autoload:
                self._load_entry_points()
            self._check_pending()
            # Only now: in strict mode a failure above raises, and the next call tries again.
            self._loaded = True

    def _load_entry_points(self) -> None:
        import importlib_metadata
        from packaging.requirements import InvalidRequirement, Requirement

        seen: set[tuple[str, str]] = set()
        eps = sorted(
            importlib_metadata.entry_points(group=hookspecs.PROJECT),
            key=lambda e: (e.dist.name if e.dist else "", e.name),
        )
        for ep in eps:
            dist_name = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            key = (normalize(dist_name or ""), ep.name)
            if key in seen or ep.name in self._dists:
                continue  # a duplicate path entry, or loaded by an earlier, failed attempt
            seen.add(key)
            norm = normalize(dist_name or ep.name)
            if "*" in self._block or norm in self._block:
                self._skip(ep.name, dist_name, version, "blocked", f"blocked by {ENV_DISABLE}")
                continue
            if self._allow is not None and norm not in self._allow:
                self._skip(ep.name, dist_name, version, "not-allowed", f"not listed in {ENV_LOAD}")
                continue
            for raw in (ep.dist.requires or []) if ep.dist else []:
                try:
                    req = Requirement(raw)
                except InvalidRequirement:
                    continue
                if normalize(req.name) != "llmreg" or req.marker is not None:
                    continue
                if not req.specifier.contains(__version__, prereleases=True):
                    self._fail(
                        IncompatiblePluginError(
                            f"plugin {dist_name} {version} requires llmreg{req.specifier}, but "
                            f"llmreg {__version__} is installed: upgrade the plugin or the core"
                        ),
                        ep.name,
                        dist_name,
                        version,
                        status="incompatible",
                    )
                    break
            else:
                try:
                    module = ep.load()
                    self.register_plugin(
                        module, name=ep.name, distribution=dist_name, version=version
                    )
                except Exception as exc:
                    err = PluginLoadError(
                        f"plugin {ep.name} from {dist_name} {version} failed to load: "
                        f"{type(exc).__name__}: {exc}. Fix or uninstall it, or block it with "
                        f"{ENV_DISABLE}={dist_name}"
                    )
                    self._fail(err, ep.name, dist_name, version, cause=exc)

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
            registered = self._pm.register(plugin, name=name)
            if registered is None:
                raise PluginLoadError(f"plugin {name or plugin!r} is already registered or blocked")
            self._dists[registered] = (distribution, version)
            self._invalidate()
            return registered

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        with self._lock:
            self._pm.unregister(name=name)
            self._dists.pop(name, None)
            self._invalidate()

    def _invalidate(self) -> None:
        self._collected = None
        self._adapters.clear()

    # --- collection --------------------------------------------------------

    def _collect(self) -> dict[str, dict[str, Registration]]:
        with self._lock:
            self.load()
            if self._collected is not None:
                return self._collected
            tables: dict[str, dict[str, Registration]] = {
                "saver": {},
                "loader": {},
                "register": {},
                "provider": {},
            }
            for role, hook_name in ROLE_HOOKS.items():
                for impl, _name, obj in self._call(hook_name):
                    kind = self._check_class(role, obj, impl.plugin_name)
                    self._add(tables[role], f"{role} KIND", kind, obj, impl.plugin_name)
            for impl, reg_name, obj in self._call(PROVIDER_HOOK):
                if not isinstance(reg_name, str) or not reg_name or not callable(obj):
                    raise PluginLoadError(
                        f"plugin {impl.plugin_name} registered provider {reg_name!r} without a "
                        "name and a callable factory: call register('name', factory)"
                    )
                self._add(tables["provider"], "provider", reg_name, obj, impl.plugin_name)
            self._collected = tables
            return tables

    def _call(self, hook_name: str) -> Iterable[tuple[Any, Any, Any]]:
        """Call each implementation of a hook with a register callback that notes who called."""
        caller = getattr(self._pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            got: list[tuple[Any, Any]] = []

            def register(
                *args: Any, _got: list[tuple[Any, Any]] = got, _plugin: str = impl.plugin_name
            ) -> None:
                if len(args) not in (1, 2):
                    raise PluginLoadError(
                        f"plugin {_plugin} called register() with {len(args)} arguments: "
                        f"{hook_name} takes register(cls), or register(name, factory) for providers"
                    )
                _got.append((args[0], args[1]) if len(args) == 2 else (None, args[0]))

            impl.function(**dict.fromkeys(impl.argnames, register))
            for reg_name, obj in got:
                yield impl, reg_name, obj

    def _check_class(self, role: Role, cls: Any, plugin: str) -> str:
        base = ROLE_BASES[role]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginLoadError(
                f"plugin {plugin} registered {cls!r} as a {role}, but it is not a subclass of "
                f"llmreg.{base.__name__}"
            )
        kind = cls.model_fields["KIND"].default if "KIND" in cls.model_fields else None
        if not isinstance(kind, str) or not kind:
            raise PluginLoadError(
                f"plugin {plugin} registered {cls.__name__} without a KIND: declare "
                f'KIND: Literal["{cls.__name__}"] = "{cls.__name__}"'
            )
        return kind

    def _add(
        self, table: dict[str, Registration], what: str, name: str, obj: Any, plugin: str
    ) -> None:
        dist = self._dists.get(plugin, (None, None))[0]
        if name in table:
            other = table[name]
            raise PluginConflictError(
                f"{what} {name!r} is provided twice: by plugin {other.plugin} "
                f"(distribution {other.distribution or 'unknown'}) and by plugin {plugin} "
                f"(distribution {dist or 'unknown'}). Uninstall one, or block it with {ENV_DISABLE}"
            )
        table[name] = Registration(name, obj, plugin, dist)

    # --- lookups -----------------------------------------------------------

    def kinds(self, role: Role) -> dict[str, Registration]:
        """Return the registered classes of one role, keyed by KIND."""
        return dict(self._collect()[role])

    def providers(self) -> dict[str, Registration]:
        """Return the registered provider factories, keyed by provider name."""
        return dict(self._collect()["provider"])

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
        return UnknownKindError(f"unknown {what} {name!r}; installed: {names}.{hint}")

    def component_class(self, role: Role, kind: str) -> type[Component]:
        """Return the class registered for ``kind`` in ``role``.

        Raises:
            UnknownKindError: no plugin provides it; lists what is installed.
        """
        table = self._collect()[role]
        if kind not in table:
            raise self._unknown(f"{role} KIND", role, kind, table)
        return cast(type[Component], table[kind].obj)

    def config_adapter(self, role: Role) -> TypeAdapter[Any]:
        """Return a pydantic adapter for the discriminated union of the role's KINDs."""
        with self._lock:
            if role not in self._adapters:
                from typing import Annotated, Union

                from pydantic import Field

                classes = tuple(r.obj for r in self._collect()[role].values())
                if not classes:
                    raise self._unknown(f"{role} KIND", role, "(any)", [])
                union = Annotated[Union[classes], Field(discriminator="KIND")]  # type: ignore[valid-type]  # noqa: UP007
                self._adapters[role] = TypeAdapter(union)
            return self._adapters[role]

    def build(self, role: Role, config: Mapping[str, Any] | Component) -> Component:
        """Validate a config naming a KIND into the registered class.

        Raises:
            UnknownKindError: the KIND is not installed.
            ConfigError: the config is not an object, lacks ``KIND``, or a field is invalid.
        """
        if isinstance(config, Component):
            if not isinstance(config, ROLE_BASES[role]):
                raise ConfigError(f"{type(config).__name__} is not a {role}")
            return config
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"a {role} config must be an object with a KIND, not {type(config).__name__}"
            )
        kind = config.get("KIND")
        if not isinstance(kind, str):
            installed = ", ".join(sorted(self._collect()[role])) or "none"
            raise ConfigError(f"a {role} config needs a KIND; installed: {installed}")
        self.component_class(role, kind)
        try:
            return cast(Component, self.config_adapter(role).validate_python(dict(config)))
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, f"{role} config {kind}")) from None

    def saver(self, config: Mapping[str, Any]) -> Saver:
        """Build a :class:`Saver` from a config such as ``{"KIND": "CustomSaver"}``."""
        return cast(Saver, self.build("saver", config))

    def loader(self, config: Mapping[str, Any]) -> Loader:
        """Build a :class:`Loader` from a config such as ``{"KIND": "CustomLoader"}``."""
        return cast(Loader, self.build("loader", config))

    def register(self, config: Mapping[str, Any]) -> Register:
        """Build a :class:`Register` from a config such as ``{"KIND": "MlflowRegister"}``."""
        return cast(Register, self.build("register", config))

    def client_factory(self, provider: str) -> Callable[[ModelDefinition], Any]:
        """Return the factory registered for ``provider``.

        Raises:
            UnknownKindError: no plugin provides it.
        """
        table = self._collect()["provider"]
        if provider not in table:
            raise self._unknown("provider", "provider", provider, table)
        return cast(Callable[[ModelDefinition], Any], table[provider].obj)

    def client(self, definition: ModelDefinition) -> Any:
        """Build the :class:`~llmreg.client.Client` for a model definition."""
        return self.client_factory(definition.provider)(definition)

    # --- reporting ---------------------------------------------------------

    @property
    def problems(self) -> list[PluginProblem]:
        """Plugins that were skipped or failed, and why."""
        self.load()
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
            kinds = {
                role: sorted(k for k, r in tables[role].items() if r.plugin == name)
                for role in ROLE_HOOKS
            }
            providers = sorted(k for k, r in tables["provider"].items() if r.plugin == name)
            infos.append(
                PluginInfo(
                    name, dist, version, hooks, {r: k for r, k in kinds.items() if k}, providers
                )
            )
        return infos

    def report(self) -> dict[str, Any]:
        """Return plugins and problems as a JSON-ready dict, as ``llmreg plugins --json`` prints."""
        return {
            "llmreg": __version__,
            "plugins": [asdict(p) for p in self.plugins()],
            "problems": [asdict(p) for p in self.problems],
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
