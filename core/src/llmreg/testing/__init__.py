"""Helpers for testing llmreg plugins, for llmreg itself and for plugin authors.

- :func:`isolated_manager` gives a :class:`~llmreg.manager.PluginManager` with
  entry-point autoload off, holding only the plugins you pass.
- :func:`registered` registers a plugin for the duration of a ``with`` block.
- :class:`EchoClient` and :data:`echo_plugin` are a provider that answers
  without a network, for unit tests of savers, loaders and hosts.
- :mod:`llmreg.testing.contract` holds the contract kit: pytest classes a
  third-party Saver, Loader, Register or provider subclasses to check itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from llmreg.client import Client, Completion, RowResult
from llmreg.definition import ModelDefinition
from llmreg.errors import ProviderBadRequestError
from llmreg.hookspecs import RegisterProvider, hookimpl
from llmreg.manager import PluginManager, create_plugin_manager, get_plugin_manager
from llmreg.schemas import Request


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


class EchoClient(Client):
    """A provider client that answers ``echo: <last message>`` with no network.

    A row whose text is ``"!fail"`` fails with :class:`ProviderBadRequestError`,
    so that per-row error handling can be tested.
    """

    def __init__(self, definition: ModelDefinition) -> None:
        self.definition = definition
        self.calls = 0

    def complete(self, request: Request) -> Completion:
        """Answer one request by echoing its last message."""
        start = time.perf_counter()
        self.calls += 1
        text = request.chat_messages(self.definition.system_prompt)[-1]["content"]
        if text == "!fail":
            raise ProviderBadRequestError("echo provider was asked to fail", status_code=400)
        return Completion(
            text=f"echo: {text}",
            model=self.definition.model,
            latency_ms=(time.perf_counter() - start) * 1000,
            prompt_tokens=len(text.split()),
            completion_tokens=len(text.split()) + 1,
            total_tokens=2 * len(text.split()) + 1,
            finish_reason="stop",
        )

    def batch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Answer each request in order; a failing row yields its error in place."""
        out: list[RowResult] = []
        for request in requests:
            try:
                out.append(self.complete(request))
            except ProviderBadRequestError as exc:
                out.append(exc)
        return out


class _EchoPlugin:
    """Registers the ``echo`` provider."""

    @hookimpl
    def llmreg_register_providers(self, register: RegisterProvider) -> None:
        register("echo", EchoClient)


#: A plugin object registering the ``echo`` provider (:class:`EchoClient`).
echo_plugin = _EchoPlugin()

__all__ = ["EchoClient", "echo_plugin", "isolated_manager", "registered"]
