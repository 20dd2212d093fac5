"""Helpers for testing llmreg plugins, for llmreg itself and for plugin authors.

- :func:`isolated_manager` gives a :class:`~llmreg.manager.PluginManager` with
  entry-point autoload off, holding only the plugins you pass.
- :func:`registered` registers a plugin for the duration of a ``with`` block.
- :data:`echo_plugin` is the core's ``echo`` provider (:mod:`llmreg.echo`),
  which answers without a network, for an isolated manager.
- :mod:`llmreg.testing.contract` holds the contract kit: pytest classes a
  third-party Saver, Loader, Register or provider subclasses to check itself
  (``pip install "llmreg[testing]"``). They live by role in
  :mod:`~llmreg.testing.components`, :mod:`~llmreg.testing.register`,
  :mod:`~llmreg.testing.roundtrip` and :mod:`~llmreg.testing.provider`, with the
  kit's own endpoint (:mod:`~llmreg.testing.server`) and client
  (:mod:`~llmreg.testing.kit_client`); ``import llmreg`` imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from llmreg import echo as _echo_module
from llmreg.echo_client import EchoClient
from llmreg.manager import PluginManager, create_plugin_manager, get_plugin_manager


def isolated_manager(*plugins: object) -> PluginManager:
    """Return a manager that loads no entry points and holds only ``plugins``."""
    manager = create_plugin_manager(autoload=False)
    for plugin in plugins:
        manager.register_plugin(plugin)
    return manager


@contextmanager
def registered(
    plugin: object, manager: PluginManager | None = None, name: str | None = None
) -> Iterator[PluginManager]:
    """Register ``plugin`` (default manager unless one is given) inside a ``with`` block.

    Example:
        >>> from llmreg.testing import echo_plugin, isolated_manager, registered
        >>> with registered(echo_plugin, isolated_manager()) as pm:
        ...     sorted(pm.providers())
        ['echo']
    """
    manager = manager or get_plugin_manager()
    registered_name = manager.register_plugin(plugin, name=name)
    try:
        yield manager
    finally:
        manager.unregister_plugin(registered_name)


#: The core's ``echo`` provider plugin (the module :mod:`llmreg.echo`), for isolated managers.
echo_plugin = _echo_module

__all__ = ["EchoClient", "echo_plugin", "isolated_manager", "registered"]
