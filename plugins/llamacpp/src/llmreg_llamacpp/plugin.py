"""The llmreg-llamacpp plugin: registers the ``llamacpp`` provider.

Loading this module imports neither ``openai`` nor the server code: the client
module is imported when the first client is built, so ``llmreg plugins`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmreg import hookimpl
from llmreg.definition import ModelDefinition
from llmreg.hookspecs import RegisterProvider

if TYPE_CHECKING:
    from llmreg_llamacpp.provider import LlamaCppClient

#: The provider name a model definition uses to pick this client.
PROVIDER = "llamacpp"


def create_client(definition: ModelDefinition) -> LlamaCppClient:
    """Build a :class:`~llmreg_llamacpp.provider.LlamaCppClient` for ``definition``."""
    from llmreg_llamacpp.provider import LlamaCppClient

    return LlamaCppClient(definition)


@hookimpl
def llmreg_register_providers(register: RegisterProvider) -> None:
    """Register the ``llamacpp`` provider."""
    register(PROVIDER, create_client)
