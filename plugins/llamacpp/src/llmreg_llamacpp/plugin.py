"""The llmreg-llamacpp plugin: registers the ``llamacpp`` provider, by import path.

Importing this module imports the hook marker and nothing else: no ``openai``,
no pydantic model, neither the client nor the server code. The manager imports
:data:`CLIENT` when the first ``llamacpp`` client is built, so ``llmreg plugins``
and every CLI start stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmreg.hookspecs import hookimpl

if TYPE_CHECKING:
    from llmreg.hookspecs import RegisterProvider

#: The provider name a model definition uses to pick this client.
PROVIDER = "llamacpp"
#: The client class, as the import path the manager resolves on first use.
CLIENT = "llmreg_llamacpp.provider:LlamaCppClient"


@hookimpl
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Register :class:`~llmreg_llamacpp.provider.LlamaCppClient` as provider ``llamacpp``."""
    register(PROVIDER, CLIENT)


__all__ = ["CLIENT", "PROVIDER", "llmreg_register_providers"]
