"""The hook specifications a llmreg plugin implements.

Every hook hands the plugin a ``register(...)`` callback, in the style of
simonw/llm: a plugin calls it once per class or provider it contributes. All
four hooks are *collect-all* (every implementation is called, none returns a
value), so the result never depends on the order in which plugins load: the
manager keys what was registered by name, and the same name from two
distributions is a :class:`~llmreg.errors.PluginConflictError` naming both.

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

from collections.abc import Callable
from typing import Any

import pluggy

#: The pluggy project name; also the entry-point group plugins are found in.
PROJECT = "llmreg"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorate a plugin's hook implementations with this marker.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``register(cls)`` for savers, loaders and registers.
RegisterClass = Callable[[type[Any]], None]
#: ``register(name, factory)`` for LLM client providers.
RegisterProvider = Callable[[str, Callable[..., Any]], None]


@hookspec
def llmreg_register_savers(register: RegisterClass) -> None:
    """Contribute :class:`~llmreg.bases.Saver` subclasses, keyed by their ``KIND``.

    Call ``register(cls)`` once per class.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.1.
    """


@hookspec
def llmreg_register_loaders(register: RegisterClass) -> None:
    """Contribute :class:`~llmreg.bases.Loader` subclasses, keyed by their ``KIND``.

    Call ``register(cls)`` once per class.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.1.
    """


@hookspec
def llmreg_register_registers(register: RegisterClass) -> None:
    """Contribute :class:`~llmreg.bases.Register` subclasses, keyed by their ``KIND``.

    Call ``register(cls)`` once per class.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.1.
    """


@hookspec
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Contribute LLM client providers, keyed by provider name.

    Call ``register(name, factory)``, where ``factory(definition)`` returns a
    :class:`~llmreg.client.Client` for a :class:`~llmreg.definition.ModelDefinition`
    whose ``provider`` is ``name``. Import heavy SDKs inside the factory, not at
    module import, so that ``llmreg plugins`` stays fast.

    Result rule: collect-all; every implementation is called and none returns a value.

    Added in llmreg 0.1.
    """
