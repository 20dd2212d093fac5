"""The core's provider contract kit, run against the real llama.cpp provider."""

from __future__ import annotations

import pytest

from llmreg.testing.contract import ProviderContract
from llmreg_llamacpp import plugin


# The session client holds the server, so the contract's clients share it
# instead of starting one each.
@pytest.mark.usefixtures("shared_client")
class TestLlamaCppProviderContract(ProviderContract):
    provider = "llamacpp"
    plugin = plugin
    # Empty options: the same server settings as the session client's.
    definition = {"provider": "llamacpp", "model": "gemma-3-270m", "max_tokens": 16, "timeout": 300}
