"""The llmreg-litellm plugin: registers the ``openai`` provider, by import path.

Importing this module imports the hook marker and nothing else: no ``openai``,
no ``httpx``, no pydantic model, not even this package's client module. The
manager imports :data:`CLIENT` when the first ``openai`` client is built, so
``llmreg plugins`` and every CLI start stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmreg.hookspecs import hookimpl

if TYPE_CHECKING:
    from llmreg.hookspecs import RegisterProvider

#: The provider name a model definition uses to pick this client.
PROVIDER = "openai"
#: The client class, as the import path the manager resolves on first use.
CLIENT = "llmreg_litellm.client:OpenAICompatibleClient"


@hookimpl
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Register :class:`~llmreg_litellm.client.OpenAICompatibleClient` as provider ``openai``."""
    register(PROVIDER, CLIENT)


__all__ = ["CLIENT", "PROVIDER", "llmreg_register_providers"]
