"""The API key: resolved at build time, sent, and never shown, in any form.

The forms are :func:`llmreg.secrets.secret_forms`: raw, ``repr`` (of a ``str`` and
of ``bytes``), JSON-escaped, URL-encoded; and any URL's userinfo.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import openai
import pytest

from llmreg import ModelDefinition, Request
from llmreg.errors import (
    PredictionError,
    ProviderAuthenticationError,
    ProviderError,
    SecretResolutionError,
)
from llmreg.secrets import MASK, RedactingFilter, SecretRegistry, secret_forms
from llmreg_litellm.client import OpenAICompatibleClient

T = TypeVar("T")

#: A request for the SDK errors built by hand below.
_REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


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


# --- every form: raw, repr, escaped, URL-encoded, URL userinfo ---------------------------

#: Keys whose forms differ from the raw value: a trailing newline (``repr`` and bytes
#: ``repr`` show ``\n``, JSON ``\n``, URL ``%0A``), quotes and a backslash (escaped by
#: ``repr`` and JSON), a space (``%20`` and ``+`` URL-encoded).
AWKWARD_KEYS = {
    "trailing-newline": "sk-{marker}\n",
    "quotes-and-backslash": 'sk-{marker}"q\\b',
    "inner-space": "sk-{marker} tail",
}


def _build_or_refusal(build: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T | None, Any]:
    """``build(...)``, or the error it raised: a core may refuse what an older one accepted."""
    try:
        return build(*args, **kwargs), None
    except (SecretResolutionError, ValueError) as exc:
        return None, exc


def _leaks(text: str, key: str, marker: str) -> list[str]:
    """The forms of ``key`` found in ``text``, and the marker if it shows at all."""
    found = sorted(f for f in secret_forms(key) | secret_forms(key.strip()) if f in text)
    return found + ([marker] if marker in text else [])


@pytest.mark.parametrize("shape", sorted(AWKWARD_KEYS))
def test_no_form_of_an_awkward_key_is_in_an_error(server, monkeypatch, unique, shape):
    # the fake server quotes the key it got in its 401 body; a key an HTTP header cannot
    # carry makes httpx quote it instead, as bytes repr (b'Bearer sk-...\n')
    marker = f"canary-{uuid.uuid4().hex}"
    key = AWKWARD_KEYS[shape].format(marker=marker)
    monkeypatch.setenv("LLMREG_TEST_AWKWARD_KEY", key)
    definition = ModelDefinition(
        model=unique("fault-401"),
        base_url=server.base_url,
        api_key="env:LLMREG_TEST_AWKWARD_KEY",
        max_retries=0,
    )
    client, refused = _build_or_refusal(OpenAICompatibleClient, definition)
    if refused is not None:  # a core that refuses such a key when resolving it
        assert isinstance(refused, SecretResolutionError)
        assert _leaks(str(refused), key, marker) == []
        assert _leaks(repr(refused), key, marker) == []
        return
    assert client is not None
    try:
        (result,) = client.batch([Request(input="x")])
        with pytest.raises(ProviderError) as raised:
            client.complete(Request(input="x"))
    finally:
        client.close()
    for error in (result, raised.value):
        assert isinstance(error, ProviderError)
        assert _leaks(str(error), key, marker) == []
        assert _leaks(repr(error), key, marker) == []
        assert error.__cause__ is None
    assert _leaks(repr(client), key, marker) == []


@pytest.mark.parametrize("shape", sorted(AWKWARD_KEYS))
def test_the_scrubber_masks_every_form_the_sdk_could_quote(shape):
    from llmreg_litellm._errors import provider_error

    marker = f"canary-{uuid.uuid4().hex}"
    key = AWKWARD_KEYS[shape].format(marker=marker)
    forms = sorted(secret_forms(key))
    assert len(forms) >= 3  # raw, repr, escaped, URL-encoded: not all the same here
    for form in forms:
        cause = OSError(f"header rejected: {form}")
        exc = openai.APIConnectionError(message=f"sent {form}", request=_REQUEST)
        exc.__cause__ = cause
        for raised in (exc, ValueError(f"body quoted {form}")):
            error = provider_error(raised, where="model 'm'", attempts=1, timeout=1, secrets=[key])
            assert _leaks(str(error), key, marker) == [], (form, str(error))


def test_the_scrubber_masks_secrets_the_process_knows(monkeypatch):
    """A secret of another model the process loaded (llmreg.secrets.SECRETS) is masked too."""
    from llmreg_litellm import _errors

    registry = SecretRegistry()
    monkeypatch.setattr(_errors, "SECRETS", registry)
    other = f"sk-other-{uuid.uuid4().hex}"
    registry.add([other])
    error = _errors.provider_error(
        ValueError(f"upstream said {other!r}"), where="m", attempts=1, timeout=1, secrets=[]
    )
    assert other not in str(error)
    assert MASK in str(error)


def test_the_key_joins_the_process_registry_for_log_filters(make_client, canary, unique):
    make_client(unique("m"), api_key="env:LLMREG_TEST_CANARY_KEY")
    args = (f"Bearer {canary}",)
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "sent %r", args, None)
    RedactingFilter().filter(record)
    assert canary not in record.getMessage()
    assert MASK in record.getMessage()


def test_url_userinfo_never_shows(server, unique):
    password = f"pw-{uuid.uuid4().hex}"
    url = f"http://user:{password}@127.0.0.1:{server.port}/v1"
    definition, refused = _build_or_refusal(
        ModelDefinition, model=unique("fault-500"), base_url=url, max_retries=0
    )
    if refused is not None:  # a core that refuses credentials in base_url
        assert isinstance(refused, ValueError)
        assert password not in str(refused)
        return
    assert definition is not None
    client = OpenAICompatibleClient(definition)
    try:
        (result,) = client.batch([Request(input="x")])
    finally:
        client.close()
    assert isinstance(result, ProviderError)
    assert str(server.port) in str(result)  # the endpoint is still named...
    for text in (str(result), repr(result), repr(client), repr(client._chain)):
        assert password not in text  # ...without its credentials
    with pytest.raises(PredictionError, match="closed") as closed:
        client.complete(Request(input="x"))
    assert password not in str(closed.value)
