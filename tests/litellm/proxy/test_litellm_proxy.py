"""Smoke tests of the openai provider against the real LiteLLM proxy in mock mode."""

from __future__ import annotations

import asyncio

import pytest

from llmreg import Completion, ModelDefinition, Request
from llmreg.errors import ProviderBadRequestError, ProviderError
from llmreg.schemas import Message
from llmreg_litellm.client import OpenAICompatibleClient

MOCK_TEXT = "Hello from the LiteLLM mock."


@pytest.fixture
def client_for(litellm_proxy):
    """Build clients for the proxy (closed after the test)."""
    clients: list[OpenAICompatibleClient] = []

    def make(model: str, **fields) -> OpenAICompatibleClient:
        definition = ModelDefinition(
            provider="openai",
            model=model,
            base_url=litellm_proxy.base_url,
            api_key=f"env:{litellm_proxy.key_env}",
            timeout=30,
            max_retries=0,
            **fields,
        )
        clients.append(OpenAICompatibleClient(definition))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def test_text_and_metadata(client_for):
    done = client_for("mock-gpt").complete(Request(input="Say hello."))
    assert done.text == MOCK_TEXT
    assert done.model == "mock-gpt"
    assert done.finish_reason == "stop"
    assert done.total_tokens == done.prompt_tokens + done.completion_tokens
    assert done.attempts == 1


def test_chat_messages_with_a_system_prompt(client_for):
    client = client_for("mock-gpt", system_prompt="Be brief.")
    messages = [Message(role="user", content="hi"), Message(role="assistant", content="hello")]
    done = client.complete(Request(messages=[*messages, Message(role="user", content="again")]))
    assert done.text == MOCK_TEXT


def test_batch_keeps_length_with_concurrency(client_for):
    rows = [Request(input=f"r{i}") for i in range(12)]
    results = client_for("mock-gpt").batch(rows, concurrency=4)
    assert len(results) == 12
    assert all(isinstance(r, Completion) and r.text == MOCK_TEXT for r in results)


def test_abatch_from_async_code(client_for):
    client = client_for("mock-gpt")

    async def caller() -> list:
        return await client.abatch([Request(input="a"), Request(input="b")])

    assert [r.text for r in asyncio.run(caller())] == [MOCK_TEXT, MOCK_TEXT]


def test_an_unknown_model_is_a_typed_error(client_for, litellm_proxy):
    with pytest.raises(ProviderBadRequestError) as info:
        client_for("no-such-model").complete(Request(input="x"))
    assert "no-such-model" in str(info.value)
    assert litellm_proxy.base_url in str(info.value)


def test_fallback_to_a_model_the_proxy_has(client_for):
    client = client_for("no-such-model", fallbacks=[{"model": "mock-backup"}])
    done = client.complete(Request(input="x"))
    assert done.text == "backup answer"
    assert done.model == "mock-backup"
    assert done.extra["fallback_index"] == 1


def test_a_wrong_key_is_refused_and_not_shown(litellm_proxy, monkeypatch):
    monkeypatch.setenv("LLMREG_TEST_WRONG_KEY", "sk-wrong-canary-4711")
    definition = ModelDefinition(
        model="mock-gpt",
        base_url=litellm_proxy.base_url,
        api_key="env:LLMREG_TEST_WRONG_KEY",
        max_retries=0,
    )
    client = OpenAICompatibleClient(definition)
    try:
        (result,) = client.batch([Request(input="x")])
    finally:
        client.close()
    # without a database the proxy answers a bad key with 400 "No connected db", not 401
    assert isinstance(result, ProviderError)
    assert result.status_code in (400, 401, 403)
    assert "sk-wrong-canary-4711" not in str(result)
