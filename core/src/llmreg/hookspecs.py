"""The hook specifications a llmreg plugin implements.

The registration hooks hand the plugin a ``register(...)`` callback, in the
style of simonw/llm: a plugin calls it once per class or provider it
contributes. They are *collect-all* (every implementation is called, none
returns a value), so the result never depends on the order in which plugins
load: the manager keys what was registered by name, and the same name from two
distributions is a conflict that names both (reported by ``llmreg plugins``,
and a :class:`~llmreg.errors.PluginConflictError` for whatever uses that name).

The manager calls each plugin's implementation on its own, through pluggy's
call path (so ``add_hookcall_monitoring`` sees every call): a hook that raises
is reported against that plugin and its distribution, and the others still load.

Classes may be registered by import path, ``register("KIND", "pkg.module:Class")``:
the module is imported only when that KIND is first used, which keeps
``llmreg plugins`` and every CLI start fast.

A plugin is a module named by an entry point in the group ``llmreg``::

    [project.entry-points.llmreg]
    my-saver = "my_package.plugin"

and that module implements one or more of these hooks with :data:`hookimpl`::

    from llmreg import hookimpl

    @hookimpl
    def llmreg_register_savers(register):
        register(MySaver)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

#: The pluggy project name; also the entry-point group plugins are found in.
PROJECT = "llmreg"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorate a plugin's hook implementations with this marker.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``register(cls)``, or ``register("KIND", "module:Class")``, for savers, loaders and registers.
RegisterClass = Callable[..., None]
#: ``register(name, factory)`` for LLM client providers; ``factory`` may be ``"module:attr"``.
RegisterProvider = Callable[[str, "Callable[..., Any] | str"], None]
#: ``register(role, config)`` for default components.
RegisterDefault = Callable[[str, "Mapping[str, Any]"], None]
#: ``register(name, command)`` for CLI commands; ``command`` may be ``"module:attr"``.
RegisterCommand = Callable[[str, Any], None]

#: The roles a default can be registered for: the CLI's three, and the serving
#: app's loader (which falls back to ``loader``).
DEFAULT_ROLES = ("saver", "loader", "register", "serve.loader")


@dataclass(frozen=True)
class CliSetup:
    """What a plugin's :func:`llmreg_cli_setup` tells the CLI.

    Attributes:
        store: where the plugin's store is, printed as ``store: <tracking_uri>``
            by the commands that read or write it: ``{"tracking_uri", "registry_uri",
            "source"}``; ``None`` when the plugin has no store.
        quiet: package names whose warnings the CLI hides unless ``--debug``.
        prepare: called once by a command that is about to read or write the store
            (not by ``llmreg plugins``): check it, create it where it is new. It may
            return facts to add to ``store`` (``{"created": True}`` for a store this
            command created, which "not found" errors then mention). Raise a typed
            error naming the store when it cannot be used.
        reader: optional; called by the reading commands (``versions``, ``list``,
            ``history``, the version lookup of ``show``) with the register config the
            CLI would build (a dict with its ``KIND``). It returns an object with the
            register's reading methods (``KIND``, ``versions``, ``models``, ``history``)
            that answers as the built register would, without building it (and so
            without importing pydantic or the store's client library); or ``None``
            when it cannot (another KIND, a field it does not handle, a store it has
            no light path to), and the CLI builds the register. Added in llmreg 0.2.0.
    """

    store: Mapping[str, str | None] | None = None
    quiet: tuple[str, ...] = ()
    prepare: Callable[[], Mapping[str, Any] | None] | None = None
    reader: Callable[[Mapping[str, Any]], Any] | None = None


@hookspec
def llmreg_register_savers(register: RegisterClass) -> None:
    """Contribute :class:`~llmreg.bases.Saver` subclasses, keyed by their ``KIND``.

    Call ``register(cls)`` once per class, or ``register("KIND", "module:Class")``
    to have the class imported on first use.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.1.0; lazy registration by import path in 0.2.0.
    """


@hookspec
def llmreg_register_loaders(register: RegisterClass) -> None:
    """Contribute :class:`~llmreg.bases.Loader` subclasses, keyed by their ``KIND``.

    Call ``register(cls)`` once per class, or ``register("KIND", "module:Class")``.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.1.0; lazy registration by import path in 0.2.0.
    """


@hookspec
def llmreg_register_registers(register: RegisterClass) -> None:
    """Contribute :class:`~llmreg.bases.Register` subclasses, keyed by their ``KIND``.

    Call ``register(cls)`` once per class, or ``register("KIND", "module:Class")``.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.1.0; lazy registration by import path in 0.2.0.
    """


@hookspec
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Contribute LLM client providers, keyed by provider name.

    Call ``register(name, factory)``, where ``factory(definition)`` returns a
    :class:`~llmreg.client.Client` for a :class:`~llmreg.definition.ModelDefinition`
    whose ``provider`` is ``name``. ``factory`` may be an import path
    ``"module:attr"``, imported when the first client is built. Import heavy SDKs
    inside the factory, not at module import, so that ``llmreg plugins`` stays fast.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.1.0; lazy registration by import path in 0.2.0.
    """


@hookspec
def llmreg_defaults(register: RegisterDefault) -> None:
    """Contribute the component a role uses when the user names none.

    Call ``register(role, config)``, where ``role`` is one of :data:`DEFAULT_ROLES`
    and ``config`` is a component config with a ``KIND`` (``{"KIND": "MySaver"}``).
    The CLI uses the ``saver``, ``loader`` and ``register`` defaults unless
    ``--saver``/``--loader``/``--register`` name others; the serving app uses
    ``serve.loader``, else ``loader``. Two plugins giving a default for the same
    role is a conflict: the user then names the KIND explicitly.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.2.0.
    """


@hookspec
def llmreg_register_commands(register: RegisterCommand) -> None:
    """Contribute ``llmreg`` subcommands: the commands that need what your plugin has.

    Call ``register(name, command)``, where ``command`` is a :class:`click.Command`
    or, better, its import path ``"module:attr"``: the module is imported only when
    that command runs (or ``llmreg --help`` lists the commands), so every other
    command stays fast. A name the core already has, or that two plugins register,
    is a conflict (``llmreg plugins`` names both). llmreg-gateway adds ``serve``
    this way, and llmreg-pyfunc adds ``evaluate``::

        @hookimpl
        def llmreg_register_commands(register):
            register("hello", "my_package.cli:hello")

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.2.0.
    """


@hookspec
def llmreg_cli_setup(debug: bool) -> CliSetup | None:
    """Prepare a CLI run: the plugin's store defaults and its libraries' noise.

    Called once per ``llmreg`` command, before any component is built. Apply
    defaults the user did not set (for example a store location, fail-fast
    retries), keep your libraries' INFO logs quiet unless ``debug``, and return
    a :class:`CliSetup` saying where your store is and which packages' warnings
    to hide; or ``None``. Import no heavy library here.

    Result rule: collect-all; the CLI prints the first ``store`` it gets and
    hides the warnings of every ``quiet`` package.

    Added in llmreg 0.2.0.
    """
