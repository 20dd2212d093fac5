"""The core's provider contract, run against the ``openai`` provider and the fake server.

The fake server answers ``echo: <last user message>`` and counts tokens by words,
so the same prompt always gets the same answer: the contract's deterministic
checks (rows rotated and swapped keep their answers) apply, and the first test
below shows that this is a property of the server, not luck.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from llmreg import Request
from llmreg.client import Client
from llmreg.errors import PredictionError
from llmreg.testing import isolated_manager
from llmreg.testing.contract import ProviderContract, check_signature
from llmreg_litellm import plugin
from llmreg_litellm.client import OpenAICompatibleClient


@pytest.fixture
def contract_definition(server, unique) -> dict[str, object]:
    """A definition of the provider at the fake server, under a model name of its own."""
    return {"provider": "openai", "model": unique("contract"), "base_url": server.base_url}


class TestOpenAIProviderContract(ProviderContract):
    """The kit's checks against the kit's own OpenAI-shaped endpoint: signatures, one
    completion, batch order, settings sent, typed errors, streaming, connections closed."""

    plugin = plugin
    definition = {"provider": "openai", "model": "contract"}
    deterministic = True


class TestOpenAIProviderOnTheFakeServer(ProviderContract):
    """The same checks that need no control of the endpoint, on the fake server's URL."""

    plugin = plugin
    definition = {"provider": "openai", "model": "contract"}
    base_url = "set by the fixture below"

    @pytest.fixture(autouse=True)
    def _endpoint(self, contract_definition):
        self.definition = contract_definition
        self.base_url = contract_definition["base_url"]


def test_the_fake_server_is_deterministic(server, contract_definition):
    """The same body gets the same text and usage, whatever was sent in between."""
    client = isolated_manager(plugin).client(contract_definition)
    try:
        question = Request(input="Repeat: yes yes yes")
        first = client.complete(question)
        client.batch([Request(input=f"noise {i}") for i in range(5)], concurrency=5)
        again = client.complete(question)
    finally:
        client.close()
    assert first.text == again.text == "echo: Repeat: yes yes yes"
    assert (first.prompt_tokens, first.completion_tokens) == (
        again.prompt_tokens,
        again.completion_tokens,
    )


@pytest.mark.parametrize("name", ["complete", "batch", "abatch", "close", "aclose"])
def test_every_method_keeps_the_base_signature(name):
    """Beyond the kit: close and aclose too, and aclose is a coroutine function."""
    check_signature(getattr(OpenAICompatibleClient, name), getattr(Client, name), name)
    base_is_async = inspect.iscoroutinefunction(getattr(Client, name))
    assert inspect.iscoroutinefunction(getattr(OpenAICompatibleClient, name)) is base_is_async


def test_aclose_is_idempotent_and_mixes_with_close(contract_definition):
    """``aclose`` twice, then ``close``: no error; later calls are refused with a typed error."""
    client = isolated_manager(plugin).client(contract_definition)

    async def main() -> None:
        await client.abatch([Request(input="x")])
        await client.aclose()
        await client.aclose()

    asyncio.run(main())
    client.close()
    with pytest.raises(PredictionError, match="closed"):
        client.complete(Request(input="x"))
