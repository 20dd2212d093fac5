"""The registry of names: what the plugins registered, by table (role, provider, default,
command). Each plugin's hooks are called with only that plugin in view, so a plugin that
raises is named alone. A name from two plugins is a :class:`Conflict`: only what uses it
fails. A class registered by import path (``"module:Class"``) is imported on first use.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from llmreg.discovery import ENV_DISABLE, normalize
from llmreg.errors import LlmregError, PluginConflictError, PluginLoadError, UnknownKindError
from llmreg.hookspecs import DEFAULT_ROLES

if TYPE_CHECKING:
    from llmreg.bases import Component

#: The three roles a KIND can play.
Role = Literal["saver", "loader", "register"]

ROLE_HOOKS: dict[str, str] = {
    "saver": "llmreg_register_savers",
    "loader": "llmreg_register_loaders",
    "register": "llmreg_register_registers",
}
#: Each table and the hook that fills it.
HOOKS = {
    **ROLE_HOOKS,
    "provider": "llmreg_register_providers",
    "default": "llmreg_defaults",
    "command": "llmreg_register_commands",
}
TABLES = tuple(HOOKS)
#: The tables of named objects (a provider's factory, a command), not KINDs.
NAMED = ("provider", "command")

#: Install hints for the KINDs and providers llmreg ships (used in messages only).
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

#: The base class of each role, filled by :mod:`llmreg.bases` when it is imported. A
#: registered class subclasses one, so its module has run by then; kept here so that
#: the registry and the manager never import the bases (which ask the manager back).
ROLE_BASES: dict[str, type[Component]] = {}


def describe(exc: BaseException) -> str:
    """An exception as a message: a llmreg error's own text, else ``Type: text``."""
    return str(exc) if isinstance(exc, LlmregError) else f"{type(exc).__name__}: {exc}"


@dataclass
class Registration:
    """One class, factory, default or command a plugin registered (``obj``: an import path
    ``"module:attr"`` until resolved)."""

    name: str
    obj: Any
    plugin: str
    distribution: str | None


@dataclass(frozen=True)
class Conflict:
    """A name registered by more than one plugin."""

    table: str
    name: str
    by: list[str]


def kind_of(role: str, cls: Any) -> str:
    """The KIND of a class registered as ``role``.

    Raises:
        PluginLoadError: it is not a subclass of the role's base, or declares no KIND.
    """
    base = ROLE_BASES.get(role)
    if base is None or not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginLoadError(
            f"{cls!r} was registered as a {role}, but it is not a subclass of "
            f"llmreg.{role.capitalize()}"
        )
    kind = cls.model_fields["KIND"].default if "KIND" in cls.model_fields else None
    if not isinstance(kind, str) or not kind:
        raise PluginLoadError(
            f"{cls.__name__} was registered without a KIND: declare "
            f'KIND: Literal["{cls.__name__}"] = "{cls.__name__}"'
        )
    return kind


def _is_import_path(value: Any) -> bool:
    return isinstance(value, str) and value.count(":") == 1 and all(value.split(":"))


def registration(table: str, args: tuple[Any, ...], plugin: str, dist: str | None) -> Registration:
    """Check what one ``register(...)`` call of a plugin gave, and record it.

    Raises:
        PluginLoadError: the arguments do not fit the table's hook.
    """
    first, second = (*args, None)[:2]
    if table == "default":
        if first not in DEFAULT_ROLES or not isinstance(second, Mapping):
            raise PluginLoadError(
                f"llmreg_defaults called register({first!r}, {second!r}): it takes a role "
                f"({', '.join(DEFAULT_ROLES)}) and a config with a KIND"
            )
        if not isinstance(second.get("KIND"), str):
            raise PluginLoadError(f"the default {first} config {dict(second)!r} has no KIND")
        return Registration(first, dict(second), plugin, dist)
    if table in NAMED:
        if not (isinstance(first, str) and first) or not (
            callable(second) or _is_import_path(second)
        ):
            raise PluginLoadError(
                f"registered {table} {first!r} without a name and a target: call "
                "register('name', obj) or register('name', 'module:attr')"
            )
        return Registration(first, second, plugin, dist)
    if len(args) == 2:
        if not (isinstance(first, str) and first) or not _is_import_path(second):
            raise PluginLoadError(
                f"registered {table} {args!r}: write register(cls) or "
                "register('KIND', 'module:Class')"
            )
        return Registration(first, second, plugin, dist)
    return Registration(kind_of(table, first), first, plugin, dist)


def collect_plugin(
    pm: pluggy.PluginManager, name: str, dist: str | None
) -> dict[str, list[Registration]]:
    """Call every registration hook of the plugin ``name`` alone, through pluggy."""
    others = [p for n, p in pm.list_name_plugin() if n != name and p is not None]
    found: dict[str, list[Registration]] = {}
    for table, hook_name in HOOKS.items():
        got: list[tuple[Any, ...]] = []

        def register(*args: Any, _got: list[tuple[Any, ...]] = got, _hook: str = hook_name) -> None:
            if len(args) not in (1, 2):
                raise PluginLoadError(
                    f"register() was called with {len(args)} arguments in {_hook}: it takes "
                    "register(cls) or register('KIND', 'module:Class'); "
                    "register(name, factory) for providers; register(role, config) for defaults"
                )
            _got.append(args)

        pm.subset_hook_caller(hook_name, remove_plugins=others)(register=register)
        found[table] = [registration(table, args, name, dist) for args in got]
    return found


def _import(path: str) -> Any:
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Names:
    """The collected registrations, ``{table: {name: [registration, ...]}}``, and why
    plugins were not loaded (``(distribution, reason)``, for an unknown name's hint)."""

    def __init__(
        self, tables: dict[str, dict[str, list[Registration]]], problems: list[tuple[str, str]]
    ) -> None:
        self.tables = tables
        self._problems = problems
        self._lock = threading.Lock()

    def first(self, table: str) -> dict[str, Registration]:
        """The registrations of ``table`` by name (the first of a conflict)."""
        return {name: regs[0] for name, regs in self.tables[table].items()}

    def owned_by(self, plugin: str, table: str) -> list[str]:
        """The names of ``table`` that ``plugin`` registered."""
        return sorted(
            k for k, regs in self.tables[table].items() if any(r.plugin == plugin for r in regs)
        )

    def conflicts(self) -> list[Conflict]:
        """Every name that more than one plugin registered."""
        return [
            Conflict(table, name, [f"{r.plugin} ({r.distribution or 'unknown'})" for r in regs])
            for table, names in self.tables.items()
            for name, regs in sorted(names.items())
            if len(regs) > 1
        ]

    def lookup(self, table: str, name: str) -> Registration:
        """The one registration of ``name``.

        Raises:
            UnknownKindError: none; PluginConflictError: two plugins registered it.
        """
        regs = self.tables[table].get(name)
        if not regs:
            raise self._unknown(table, name)
        if len(regs) > 1:
            by = " and ".join(
                f"by plugin {r.plugin} (distribution {r.distribution or 'unknown'})" for r in regs
            )
            raise PluginConflictError(
                f"{_what(table)} {name!r} is provided twice: {by}. Uninstall one, or block it "
                f"with {ENV_DISABLE}"
            )
        return regs[0]

    def resolve(self, table: str, name: str) -> Any:
        """The class, factory or default config of ``name``, imported now if given by path.

        Raises:
            UnknownKindError, PluginConflictError: as :meth:`lookup`.
            PluginLoadError: the import path does not import, or names no fitting class.
        """
        reg = self.lookup(table, name)
        with self._lock:
            if isinstance(reg.obj, str) and table != "default":
                reg.obj = self._import(table, name, reg)
            return reg.obj

    @staticmethod
    def _import(table: str, name: str, reg: Registration) -> Any:
        try:
            obj = _import(reg.obj)
            if table in NAMED and not callable(obj):
                raise PluginLoadError(f"{reg.obj} is not callable")
            if table not in NAMED and (kind := kind_of(table, obj)) != name:
                raise PluginLoadError(f"{reg.obj} has KIND {kind!r}, not {name!r}")
            return obj
        except Exception as exc:
            raise PluginLoadError(
                f"{_what(table)} {name!r} from plugin {reg.plugin} (distribution "
                f"{reg.distribution or 'unknown'}) cannot be imported from {reg.obj!r}: "
                f"{describe(exc)}. Reinstall or fix the plugin."
            ) from exc

    def _unknown(self, table: str, name: str) -> UnknownKindError:
        dist = KNOWN_DISTRIBUTIONS.get(f"{table}:{name}")
        reason = next((r for d, r in self._problems if normalize(d) == dist), None)
        if dist and reason:
            hint = f" It is provided by {dist}, which was not loaded: {reason}."
        elif dist:
            hint = f" Install {dist} to get it."
        elif self._problems:
            hint = (
                " Plugins not loaded: " + "; ".join(f"{d} ({r})" for d, r in self._problems) + "."
            )
        else:
            hint = ""
        if table == "default":
            return UnknownKindError(
                f"no installed plugin gives a default {name}; name one explicitly.{hint}"
            )
        installed = ", ".join(sorted(self.tables[table])) or "none"
        return UnknownKindError(f"unknown {_what(table)} {name!r}; installed: {installed}.{hint}")


def _what(table: str) -> str:
    return table if table in (*NAMED, "default") else f"{table} KIND"


__all__ = [
    "HOOKS",
    "KNOWN_DISTRIBUTIONS",
    "ROLE_BASES",
    "ROLE_HOOKS",
    "TABLES",
    "Conflict",
    "Names",
    "Registration",
    "Role",
    "collect_plugin",
    "describe",
    "kind_of",
    "registration",
]
