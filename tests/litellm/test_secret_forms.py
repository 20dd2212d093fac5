"""A key HTTP cannot carry: refused when resolved, and never shown in any form."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from llmreg import Request
from llmreg.errors import ProviderError, SecretResolutionError
from llmreg_litellm._endpoint import Attempts, Endpoint
from llmreg_litellm._errors import scrub
from llmreg_litellm.client import OpenAICompatibleClient


@pytest.mark.parametrize("tail", ["\n", "\r\n", "\u00e9"])
def test_a_key_with_a_newline_or_non_ascii_is_refused_at_load(definition, monkeypatch, tail):
    key = f"sk-{uuid.uuid4().hex}{tail}"
    monkeypatch.setenv("LLMREG_TEST_BAD_KEY", key)
    with pytest.raises(SecretResolutionError) as info:
        OpenAICompatibleClient(definition("m", api_key="env:LLMREG_TEST_BAD_KEY"))
    assert key.strip() not in str(info.value)
    assert "LLMREG_TEST_BAD_KEY" in str(info.value)


def test_an_unsendable_header_is_typed_says_so_and_hides_the_key(definition, server):
    # bypass the check at resolution, as a key set by code after load could
    key = f"sk-{uuid.uuid4().hex}\n"
    endpoint = Endpoint(definition("m"), key, {})

    async def call():
        try:
            return await endpoint.complete(Request(input="x"), Attempts())
        finally:
            await endpoint.aclose()

    with pytest.raises(ProviderError) as info:
        asyncio.run(call())
    message = str(info.value)
    assert "could not be sent" in message and "could not be reached" not in message
    assert key.strip() not in message


def test_scrub_masks_the_repr_of_a_key_with_a_newline():
    key = "sk-0123456789abcdef\n"
    text = f"Illegal header value {('Bearer ' + key).encode()!r}"
    assert scrub(text, [key]) == "Illegal header value b'Bearer ***'"
