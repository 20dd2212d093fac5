"""Redirects: no credential follows one to another origin, on the lean path and the SDK's.

Two real HTTP servers on 127.0.0.1: the endpoint, which answers a redirect, and the
other origin (another port, or another host name for the same address), which records
every header it receives. A redirect to another origin is refused with a typed
ProviderRedirectError before anything is sent there; one within the origin is followed
with its headers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from llmreg import Request
from llmreg.errors import ProviderRedirectError
from llmreg.secrets import is_credential_header
from llmreg_litellm._endpoint import Endpoint
from support.scripted_server import Reply, ScriptedServer, Seen

ROW = Request(input="hi")
KEY = "sk-redirect-canary-key"
HEADER_KEY = "azure-canary-header-key"
QUERY_SECRET = "sig-canary-in-query"
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "moved"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def _completion_or_stream(seen: Seen) -> Reply:
    body = seen.json() or {}
    if not body.get("stream"):
        return Reply.json(COMPLETION)
    events = [
        {"choices": [{"index": 0, "delta": {"content": "moved"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return Reply(200, {"Content-Type": "text/event-stream"}, text.encode())


@pytest.fixture(params=["lean", "sdk"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sdk":
        monkeypatch.setattr(Endpoint, "poster", lambda self: None)
    return str(request.param)


@pytest.fixture
def elsewhere() -> Iterator[ScriptedServer]:
    """The other origin: answers a completion, and records what it was sent."""
    with ScriptedServer(_completion_or_stream) as srv:
        yield srv


def _redirecting(status: int, target: str) -> ScriptedServer:
    """An endpoint that redirects its chat route to ``target`` and answers anything else."""

    def script(seen: Seen) -> Reply:
        if seen.path.endswith("/v1/chat/completions"):
            return Reply(status, {"Location": target})
        return _completion_or_stream(seen)

    return ScriptedServer(script)


def _client(make_client: Any, base_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LLMREG_TEST_REDIRECT_KEY", KEY)
    monkeypatch.setenv("LLMREG_TEST_REDIRECT_HEADER", HEADER_KEY)
    return make_client(
        "m",
        base_url=base_url,
        api_key="env:LLMREG_TEST_REDIRECT_KEY",
        extra_headers={"api-key": "env:LLMREG_TEST_REDIRECT_HEADER", "X-Team": "a"},
        max_retries=2,
    )


def _stream_texts(client: Any) -> list[str]:
    async def run() -> list[str]:
        return [c.text async for c in client.astream(ROW)]

    return asyncio.run(run())


def _passthrough(client: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        body = {"messages": [{"role": "user", "content": "hi"}], "n": 1}
        return [c async for c in client.achat_stream(body)]

    return asyncio.run(run())


CALLS = {
    "complete": lambda client: client.complete(ROW),
    "astream": _stream_texts,
    "achat_stream": _passthrough,
}


@pytest.mark.parametrize(
    ("call", "status"),
    [("complete", s) for s in (301, 302, 303, 307, 308)]
    + [("astream", 307), ("achat_stream", 302)],
)
def test_a_redirect_to_another_port_is_refused_and_nothing_is_sent_there(
    path, call, status, elsewhere, make_client, monkeypatch
):
    target = f"{elsewhere.url}/v1/chat/completions?{QUERY_SECRET}=1"
    with _redirecting(status, target) as endpoint:
        client = _client(make_client, f"{endpoint.url}/v1", monkeypatch)
        with pytest.raises(ProviderRedirectError) as info:
            CALLS[call](client)
        sent = endpoint.requests()
    assert elsewhere.requests() == []  # not one byte of the request went there
    assert len(sent) == 1  # a redirect is an answer: it is not retried
    message = str(info.value)
    assert f"HTTP {status}" in message and elsewhere.url in message
    assert "base_url" in message
    for secret in (KEY, HEADER_KEY, QUERY_SECRET):
        assert secret not in message
    assert info.value.status_code == status


def test_a_redirect_to_another_host_name_is_refused(path, elsewhere, make_client, monkeypatch):
    with _redirecting(307, "placeholder") as endpoint:
        # the same address and port under another name is another origin
        endpoint.script = lambda seen: Reply(
            307, {"Location": f"http://localhost:{endpoint.port}/v2/chat/completions"}
        )
        client = _client(make_client, f"{endpoint.url}/v1", monkeypatch)
        with pytest.raises(ProviderRedirectError, match="localhost"):
            client.complete(ROW)
        assert len(endpoint.requests()) == 1


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_redirect_within_the_origin_is_followed_with_its_headers(
    path, call, make_client, monkeypatch
):
    def script(seen: Seen) -> Reply:
        if seen.path == "/v1/chat/completions":
            return Reply(307, {"Location": "/v2/chat/completions"})
        return _completion_or_stream(seen)

    with ScriptedServer(script) as endpoint:
        client = _client(make_client, f"{endpoint.url}/v1", monkeypatch)
        CALLS[call](client)
        first, moved = endpoint.requests()
    assert moved.path == "/v2/chat/completions" and moved.method == "POST"
    assert moved.headers["authorization"] == f"Bearer {KEY}"
    assert moved.headers["api-key"] == HEADER_KEY
    assert moved.json() == first.json()


@pytest.mark.parametrize(
    "name",
    ["Authorization", "api-key", "Ocp-Apim-Subscription-Key", "X-Auth", "X-Access-Key",
     "X-Api-Token", "x-goog-api-key", "X-Amz-Signature", "Proxy-Authorization", "Cookie",
     "X-Client-Secret", "X-Db-Password", "X-Credential"],
)  # fmt: skip
def test_credential_headers_are_a_class(name):
    assert is_credential_header(name)
    assert is_credential_header(name.upper())


@pytest.mark.parametrize("name", ["Accept", "X-Team", "Idempotency-Key", "OpenAI-Organization"])
def test_ordinary_headers_are_not_credentials(name):
    assert not is_credential_header(name)


def test_a_literal_vendor_credential_header_is_never_persisted():
    from llmreg import ModelDefinition
    from llmreg.errors import SecretPersistError

    literal = ModelDefinition(model="m", extra_headers={"Ocp-Apim-Subscription-Key": "abcd1234"})
    assert literal.literal_secrets() == ["abcd1234"]
    with pytest.raises(SecretPersistError):
        literal.persistable()
