"""The plugin kit's ProviderContract, run on the ``litellm`` provider against the fake
Anthropic server (LiteLLM's ``anthropic/`` route, pointed at it with ``base_url``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("litellm.exceptions")  # not tests/litellm, a namespace package

from llmreg.testing.contract import ProviderContract
from llmreg_litellm import plugin
from support.anthropic_server import FakeAnthropicServer

_SERVER = FakeAnthropicServer()


@pytest.fixture(scope="module", autouse=True)
def _serve() -> Iterator[None]:
    with _SERVER:
        yield


class TestLiteLLMProviderContract(ProviderContract):
    """The kit's checks: signatures, one completion, order and length of batches."""

    plugin = plugin
    definition = {
        "provider": "litellm",
        "model": "anthropic/contract",
        "base_url": _SERVER.url,
        "api_key": "not-a-real-key",
        "timeout": 5.0,
        "max_tokens": 64,
    }
    # The fake Anthropic server, not the kit's OpenAI-shaped one: the checks that need
    # the kit's endpoint (settings sent, typed errors, connections) skip.
    base_url = _SERVER.url
