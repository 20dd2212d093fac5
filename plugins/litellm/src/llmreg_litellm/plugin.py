"""The llmreg-litellm plugin: registers the ``openai`` provider.

Loading this module imports no ``openai``: the client imports the SDK when it
is built, so ``llmreg plugins`` stays fast.
"""

from __future__ import annotations

from llmreg import hookimpl
from llmreg.hookspecs import RegisterProvider
from llmreg_litellm.client import OpenAICompatibleClient

#: The provider name a model definition uses to pick this client.
PROVIDER = "openai"


@hookimpl
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Register :class:`~llmreg_litellm.client.OpenAICompatibleClient` as provider ``openai``."""
    register(PROVIDER, OpenAICompatibleClient)
