"""The ``echo`` provider: answers ``echo: <last message>`` with no network.

A real plugin shipped with the core (entry point ``echo`` of ``llmreg``): select it with
``{"provider": "echo", "model": "any"}``. The docs' examples and the contract kit answer
through it. It registers :class:`llmreg.echo_client.EchoClient` by import path, so
loading the plugin imports nothing.
"""

from __future__ import annotations

from llmreg.hookspecs import RegisterProvider, hookimpl

#: The provider name a definition uses to pick the echo client.
PROVIDER = "echo"


@hookimpl
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Register the ``echo`` provider."""
    register(PROVIDER, "llmreg.echo_client:EchoClient")


__all__ = ["PROVIDER", "llmreg_register_providers"]
