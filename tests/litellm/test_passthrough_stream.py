"""OpenAICompatibleClient.achat_stream: a passed-through body streamed from the endpoint.

Against the real fake server, on both upstream paths: the lean one (aiohttp, the default
for a plain http endpoint) and the SDK's ``AsyncStream`` (taken where the lean path is
not, forced here by making ``Endpoint.poster`` answer ``None``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from llmreg.errors import ProviderAuthenticationError, ProviderError
from llmreg_litellm._endpoint import Endpoint

TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture(params=["lean", "sdk"])
def path(request, monkeypatch) -> str:
    if request.param == "sdk":
        monkeypatch.setattr(Endpoint, "poster", lambda self: None)
    return str(request.param)


def _collect(client: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        return [chunk async for chunk in client.achat_stream(body)]

    return asyncio.run(run())


def _ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def test_tool_calls_stream_as_the_endpoint_sends_them(path, make_client, server, unique):
    model = unique(f"pt-{path}")
    client = make_client(model, system_prompt="be brief", temperature=0.2)
    chunks = _collect(client, _ask("[two calls] go", tools=[TOOL]))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    calls = [t for d in deltas for t in d.get("tool_calls") or ()]
    heads = [t for t in calls if "id" in t]
    assert [t["index"] for t in heads] == [0, 1]
    assert {t["function"]["name"] for t in heads} == {"lookup"}
    for index in (0, 1):
        text = "".join(t["function"]["arguments"] for t in calls if t["index"] == index)
        assert json.loads(text) == {"text": "[two calls] go"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0
    (sent,) = server.chat_requests(model)
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent.body["temperature"] == 0.2 and sent.body["tools"] == [TOOL]


def test_json_choices_and_logprobs_stream(path, make_client, unique):
    client = make_client(unique(f"pt-json-{path}"))
    chunks = _collect(
        client, _ask("a b", n=2, logprobs=True, response_format={"type": "json_object"})
    )
    for index in (0, 1):
        mine = [
            c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == index
        ]
        assert json.loads("".join(c["delta"].get("content") or "" for c in mine)) == {"echo": "a b"}
        assert any(c["logprobs"] for c in mine)


def test_an_error_event_or_a_cut_after_the_first_chunk_raises_a_typed_error(
    path, make_client, unique
):
    client = make_client(unique(f"pt-err-{path}"), max_retries=0)
    got: list[dict[str, Any]] = []

    async def run(text: str) -> None:
        async for chunk in client.achat_stream(_ask(text, tools=[TOOL])):
            got.append(chunk)

    with pytest.raises(ProviderError, match="fault injected: error event"):
        asyncio.run(run("[error event 2] x"))
    assert len(got) == 3  # the role chunk and 2 more came through before the error
    got.clear()
    with pytest.raises(ProviderError):
        asyncio.run(run("[cut 1] x"))
    assert len(got) == 2


def test_retries_and_fallbacks_apply_before_the_first_chunk(path, make_client, server, unique):
    flaky = unique(f"flaky-1-503-pt-{path}")
    client = make_client(flaky, max_retries=1)
    assert _collect(client, _ask("hi", tools=[TOOL]))[0]["choices"]
    assert server.count(flaky) == 2  # the 503, then the retry that streamed
    primary, backup = unique(f"fault-500-pt-{path}"), unique(f"pt-backup-{path}")
    client = make_client(primary, max_retries=0, fallbacks=[{"model": backup}])
    chunks = _collect(client, _ask("hi", tools=[TOOL]))
    assert chunks[0]["model"] == backup
    assert server.count(primary) == 1 and server.count(backup) == 1


def test_a_refused_key_is_a_typed_error_without_the_key(path, make_client, unique, monkeypatch):
    monkeypatch.setenv("LLMREG_TEST_PT_KEY", "sk-pt-secret-000111")
    client = make_client(
        unique(f"fault-401-pt-{path}"), api_key="env:LLMREG_TEST_PT_KEY", max_retries=0
    )
    with pytest.raises(ProviderAuthenticationError) as caught:
        _collect(client, _ask("x", tools=[TOOL]))
    assert "sk-pt-secret-000111" not in str(caught.value)
