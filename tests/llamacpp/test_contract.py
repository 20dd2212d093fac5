"""The core's provider contract kit, run against the real llama.cpp provider, and the
client's close contract (``close`` and ``aclose`` give the server lease back)."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from llmreg.client import Client
from llmreg.errors import PredictionError
from llmreg.schemas import Request
from llmreg.testing.contract import ProviderContract, check_signature
from llmreg_llamacpp import plugin, registry
from llmreg_llamacpp.provider import LlamaCppClient


# The session client holds the server, so the contract's clients share it
# instead of starting one each.
@pytest.mark.usefixtures("shared_client")
class TestLlamaCppProviderContract(ProviderContract):
    """The kit's checks; the batch order is checked by prompt tokens, not by the text."""

    plugin = plugin
    # Empty options: the same server settings as the session client's.
    definition = {"provider": "llamacpp", "model": "gemma-3-270m", "max_tokens": 16, "timeout": 300}
    # llama.cpp's output may change with its prompt cache and slot batching (FIELD-NOTES).
    deterministic = False
    # The provider starts its own llama.cpp server (no base_url): the kit's endpoint, and
    # the checks that need it, are not used here; tests/litellm runs them on the same client.
    endpoint = None


@pytest.mark.parametrize("name", ["complete", "batch", "abatch", "close", "aclose"])
def test_every_method_keeps_the_base_signature(name):
    """Beyond the kit: close and aclose too, and aclose is a coroutine function."""
    check_signature(getattr(LlamaCppClient, name), getattr(Client, name), name)
    base_is_async = inspect.iscoroutinefunction(getattr(Client, name))
    assert inspect.iscoroutinefunction(getattr(LlamaCppClient, name)) is base_is_async


def test_aclose_gives_the_lease_back_and_the_last_one_stops_the_server(
    make_definition, new_client, pid_alive
):
    definition = make_definition(options={"context_size": 896})  # a server of its own
    first, second = new_client(definition), new_client(definition)
    assert first.server is second.server is not None
    pid = first.server.pid

    async def main() -> None:
        (done,) = await first.abatch([Request(input="What is 1+1?")])
        assert done.text.strip()
        await first.aclose()
        assert pid_alive(pid)  # the second client still holds it
        await second.aclose()
        await second.aclose()  # twice: nothing more to do

    asyncio.run(main())
    assert not pid_alive(pid)
    assert pid not in {s.pid for s in registry.running_servers()}
    second.close()  # after aclose: nothing more to do either
    with pytest.raises(PredictionError, match="closed"):
        first.complete(Request(input="Hello?"))


def test_aclose_without_a_server_closes_the_http_client(shared_client, make_definition, new_client):
    client = new_client(make_definition(base_url=shared_client.base_url))
    assert client.server is None
    asyncio.run(client.aclose())
    assert shared_client.server is not None and shared_client.server.running
    with pytest.raises(PredictionError, match="closed"):
        client.complete(Request(input="Hello?"))
