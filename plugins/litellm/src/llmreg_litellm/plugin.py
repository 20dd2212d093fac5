"""The llmreg-litellm plugin: registers the ``openai`` and ``litellm`` providers, by import path.

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
#: The provider running LiteLLM's SDK in-process (the ``sdk`` extra installs it).
SDK_PROVIDER = "litellm"
#: Its client class, imported (with ``litellm``) when the first such model is built.
SDK_CLIENT = "llmreg_litellm.sdk:LiteLLMClient"


@hookimpl
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Register ``openai`` (:class:`~llmreg_litellm.client.OpenAICompatibleClient`) and
    ``litellm`` (:class:`~llmreg_litellm.sdk.LiteLLMClient`)."""
    register(PROVIDER, CLIENT)
    register(SDK_PROVIDER, SDK_CLIENT)


__all__ = ["CLIENT", "PROVIDER", "SDK_CLIENT", "SDK_PROVIDER", "llmreg_register_providers"]
