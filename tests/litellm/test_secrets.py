"""The API key: resolved at build time, sent, and never shown."""

from __future__ import annotations

import logging
import uuid

import pytest

from llmreg import ModelDefinition, Request
from llmreg.errors import ProviderAuthenticationError, SecretResolutionError
from llmreg_litellm.client import OpenAICompatibleClient


@pytest.fixture
def canary(monkeypatch) -> str:
    """A key no other text could contain by chance, set in LLMREG_TEST_CANARY_KEY."""
    key = f"sk-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("LLMREG_TEST_CANARY_KEY", key)
    return key


def test_key_is_never_in_repr(make_client, canary, unique):
    client = make_client(
        unique("m"),
        api_key="env:LLMREG_TEST_CANARY_KEY",
        fallbacks=[{"model": "b", "api_key": "env:LLMREG_TEST_CANARY_KEY"}],
    )
    client.complete(Request(input="x"))
    assert canary not in repr(client)
    assert canary not in repr(client._chain)
    assert canary not in str(vars(client))


def test_key_is_scrubbed_from_errors(make_client, server, canary, unique):
    # the fake server quotes the key it was sent in its 401 body, as OpenAI does
    model = unique("fault-401")
    client = make_client(model, api_key="env:LLMREG_TEST_CANARY_KEY")
    with pytest.raises(ProviderAuthenticationError) as info:
        client.complete(Request(input="x"))
    (sent,) = server.chat_requests(model)
    assert sent.authorization == f"Bearer {canary}"  # it was sent...
    assert "Incorrect API key provided" in str(info.value)  # ...and quoted back...
    assert canary not in str(info.value)  # ...but never shown
    assert canary not in repr(info.value)
    assert info.value.__cause__ is None


def test_key_is_never_logged(make_client, canary, unique, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(unique("fault-429"), api_key="env:LLMREG_TEST_CANARY_KEY", max_retries=1)
    result = client.batch([Request(input="x")])
    assert type(result[0]).__name__ == "ProviderRateLimitError"
    assert caplog.records  # the SDK did log the retry at debug level
    assert canary not in caplog.text


def test_unresolved_reference_names_it(definition, monkeypatch):
    monkeypatch.delenv("LLMREG_TEST_UNSET_KEY", raising=False)
    with pytest.raises(SecretResolutionError, match="env:LLMREG_TEST_UNSET_KEY"):
        OpenAICompatibleClient(definition("m", api_key="env:LLMREG_TEST_UNSET_KEY"))


def test_unresolved_fallback_reference_fails_the_build(definition, canary, monkeypatch):
    monkeypatch.delenv("LLMREG_TEST_UNSET_KEY", raising=False)
    primary = definition(
        "m",
        api_key="env:LLMREG_TEST_CANARY_KEY",
        fallbacks=[{"model": "b", "api_key": "env:LLMREG_TEST_UNSET_KEY"}],
    )
    with pytest.raises(SecretResolutionError, match="LLMREG_TEST_UNSET_KEY"):
        OpenAICompatibleClient(primary)


def test_key_is_read_when_the_client_is_built(make_client, server, monkeypatch, unique):
    monkeypatch.setenv("LLMREG_TEST_KEY", "sk-first")
    model = unique("m")
    client = make_client(model, api_key="env:LLMREG_TEST_KEY")
    monkeypatch.setenv("LLMREG_TEST_KEY", "sk-changed")
    client.complete(Request(input="x"))
    assert server.chat_requests(model)[0].authorization == "Bearer sk-first"


def test_a_literal_key_is_sent_but_not_shown(server, unique):
    from pydantic import SecretStr

    model = unique("fault-401")
    definition = ModelDefinition(
        model=model, base_url=server.base_url, api_key=SecretStr("sk-literal-123456")
    )
    client = OpenAICompatibleClient(definition)
    try:
        (result,) = client.batch([Request(input="x")])
    finally:
        client.close()
    assert server.chat_requests(model)[0].authorization == "Bearer sk-literal-123456"
    assert "sk-literal-123456" not in str(result)


def test_header_reference_is_resolved_sent_and_never_shown(
    make_client, server, unique, monkeypatch
):
    model = unique("header-ref")
    monkeypatch.setenv("LLMREG_TEST_HEADER_KEY", "hk-canary-0123456789")
    client = make_client(model, extra_headers={"X-Api-Key": "env:LLMREG_TEST_HEADER_KEY"})
    client.complete(Request(input="hi"))
    (sent,) = server.chat_requests(model)
    assert sent.headers["x-api-key"] == "hk-canary-0123456789"
    assert "hk-canary" not in repr(client)
