"""The ``echo`` provider: answers ``echo: <last message>`` with no network.

It ships with the core as a real plugin (entry point ``echo`` of the ``llmreg``
distribution), so anyone can select it: ``{"provider": "echo", "model": "any"}``.
It is what the docs' examples and the contract kit answer through, and a quick
way to try a Saver or Loader without an endpoint. This module is the plugin: it
registers the client (:class:`llmreg.echo_client.EchoClient`) by import path,
so loading it imports nothing.
"""

from __future__ import annotations

from typing import Any

from llmreg.hookspecs import RegisterProvider, hookimpl

#: The provider name a definition uses to pick the echo client.
PROVIDER = "echo"


@hookimpl
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Register the ``echo`` provider."""
    register(PROVIDER, "llmreg.echo_client:EchoClient")


def __getattr__(name: str) -> Any:
    # ``from llmreg.echo import EchoClient`` keeps working, importing the client on use.
    if name == "EchoClient":
        from llmreg.echo_client import EchoClient

        return EchoClient
    raise AttributeError(f"module 'llmreg.echo' has no attribute {name!r}")


__all__ = ["PROVIDER", "llmreg_register_providers"]
