"""Streamed pass-through (tools, JSON mode, n, logprobs): the endpoint's chunks as they arrive.

The upstream is the fake OpenAI server, which streams tool calls as a head chunk and
argument fragments, JSON content word by word, ``n`` choices interleaved and logprobs
per word (tests/support/openai_server.py); the model is an ``openai``-provider
definition (llmreg-litellm); the clients are the official SDK and raw httpx.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import openai
import pytest

from llmreg import ModelDefinition

from .conftest import TOOL


def _stream(client, text: str, **kwargs):
    return client.chat.completions.create(
        model=client.served_model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        **kwargs,
    )


def _events(url: str, body: dict) -> list[str]:
    raw = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
    assert raw.status_code == 200, raw.text
    return [line[6:] for line in raw.text.splitlines() if line.startswith("data: ")]


def test_tool_call_fragments_stream_as_they_arrive(client, upstream):
    start = time.perf_counter()
    arrivals: list[float] = []
    calls = []
    finish = []
    for chunk in _stream(client, "[gap 150] paris", tools=[TOOL], tool_choice="auto"):
        for choice in chunk.choices:
            arrivals.append(time.perf_counter() - start)
            calls.extend(choice.delta.tool_calls or ())
            finish.append(choice.finish_reason)
    # role, the call's head, three argument fragments: each 150 ms apart upstream
    assert arrivals[0] < 0.4 and arrivals[-1] - arrivals[0] > 0.45
    head, *fragments = calls
    assert head.index == 0 and head.id.startswith("call_") and head.type == "function"
    assert head.function.name == "lookup" and head.function.arguments == ""
    assert len(fragments) == 3 and all(f.id is None and f.index == 0 for f in fragments)
    assert json.loads("".join(f.function.arguments for f in fragments)) == {
        "text": "[gap 150] paris"
    }
    assert finish[-1] == "tool_calls"
    sent = upstream.chat_requests("gpt-stream")[-1].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["tools"] == [TOOL] and sent["tool_choice"] == "auto"


def test_json_mode_and_json_schema_stream(client):
    for fmt in (
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "echo", "schema": {"type": "object"}}},
    ):
        pieces = [
            c.choices[0].delta.content
            for c in _stream(client, "a b", response_format=fmt)
            if c.choices and c.choices[0].delta.content
        ]
        assert len(pieces) > 1  # word by word, not one chunk
        assert json.loads("".join(pieces)) == {"echo": "a b"}


def test_several_choices_and_logprobs_stream_interleaved(client):
    chunks = list(_stream(client, "x y", n=2, logprobs=True, top_logprobs=1))
    seen = [c.choices[0].index for c in chunks if c.choices]
    assert seen[:2] == [0, 1]  # interleaved as they come, not choice after choice
    for index in (0, 1):
        mine = [c.choices[0] for c in chunks if c.choices and c.choices[0].index == index]
        text = "".join(c.delta.content or "" for c in mine)
        assert text == "echo: x y"
        tokens = [t.token for c in mine if c.logprobs for t in c.logprobs.content]
        assert tokens == ["echo:", "x", "y"]
        assert mine[-1].finish_reason == "stop"


def test_model_fingerprint_and_one_id_are_llmregs_and_usage_only_when_asked(app_url, client):
    body = {
        "model": client.served_model,
        "messages": [{"role": "user", "content": "[two calls] go"}],
        "tools": [TOOL],
        "stream": True,
    }
    events = _events(app_url, body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["model"] for c in chunks} == {client.served_model}
    assert {c["system_fingerprint"] for c in chunks} == {f"llmreg:{client.served_model}:v?"}
    assert len({c["id"] for c in chunks}) == 1
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert all(c["choices"] and "usage" not in c for c in chunks)  # not asked: no usage
    heads = [
        t for c in chunks for t in c["choices"][0]["delta"].get("tool_calls") or () if "id" in t
    ]
    assert [t["index"] for t in heads] == [0, 1]
    asked = _events(app_url, {**body, "stream_options": {"include_usage": True}})
    last = json.loads(asked[-2])
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0
    assert last["model"] == client.served_model


def test_a_mid_stream_failure_ends_with_an_error_event_and_is_logged(app_url, client, caplog):
    caplog.set_level(logging.INFO, logger="llmreg_gateway.access")
    calls: list = []

    def read() -> None:
        for chunk in _stream(client, "[cut 2] x", tools=[TOOL]):
            calls.extend(chunk.choices[0].delta.tool_calls or () if chunk.choices else ())

    with pytest.raises(openai.APIError) as caught:
        read()
    assert len(calls) == 2  # the head and a fragment came before the cut
    assert "sk-upstream-abc123" not in str(caught.value)
    events = _events(
        app_url,
        {"model": client.served_model, "stream": True, "tools": [TOOL],
         "messages": [{"role": "user", "content": "[cut 1] x"}]},
    )  # fmt: skip
    assert "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "upstream_error"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(r.getMessage()) for r in caplog.records
                 if r.name == "llmreg_gateway.access"]  # fmt: skip
        if len(lines) >= 2:
            break
        time.sleep(0.02)
    streamed = [line for line in lines if line.get("stream")]
    assert [line["status"] for line in streamed][-2:] == [502, 502]
    assert streamed[-1]["error_code"] == "upstream_error"


def test_a_failure_before_the_first_chunk_is_an_http_error(client):
    with pytest.raises(openai.APIStatusError) as caught:
        list(_stream(client, "[fault 503] x", tools=[TOOL]))
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_error"
    with pytest.raises(openai.BadRequestError) as refused:
        list(_stream(client, "[fault 400] x", response_format={"type": "json_object"}))
    assert refused.value.body["code"] == "upstream_bad_request"


def test_fallbacks_apply_before_the_first_chunk(serve, upstream, tmp_path, ready):
    from llmreg_gateway import create_app

    folder = tmp_path / "model"
    folder.mkdir()
    definition = {
        "provider": "openai",
        "model": "fault-503-streamed-primary",
        "base_url": upstream.base_url,
        "max_retries": 0,
        "fallbacks": [{"model": "gpt-streamed-backup"}],
    }
    (folder / "model_definition.json").write_text(json.dumps(definition))
    server = serve(create_app(f"folder:{folder}", loader={"KIND": "FolderLoader"},
                              reload_interval=0))  # fmt: skip
    ready(server.url)
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as c:
        c.served_model = f"folder:{folder}"  # type: ignore[attr-defined]
        calls = [
            t
            for chunk in _stream(c, "hello", tools=[TOOL])
            for t in (chunk.choices[0].delta.tool_calls or () if chunk.choices else ())
        ]
    assert calls[0].function.name == "lookup"
    assert upstream.count("fault-503-streamed-primary") == 1
    assert upstream.chat_requests("gpt-streamed-backup")[-1].body["stream"] is True


def test_a_provider_that_does_not_stream_replays_its_answer():
    """Client.achat_stream's default: achat's whole answer, as chunks, in OpenAI's order."""
    from llmreg.client import Client, completion_chunks

    class Whole(Client):
        CHAT_FIELDS = frozenset({"tools"})

        def complete(self, request):
            raise NotImplementedError

        async def achat(self, body):
            return {
                "id": "up-1",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": None,
                    "tool_calls": [{"id": "c1", "type": "function",
                                    "function": {"name": "f", "arguments": "{}"}}]}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            }  # fmt: skip

    client = Whole(ModelDefinition(provider="echo", model="m"))

    async def collect():
        return [c async for c in client.achat_stream({"messages": []})]

    chunks = asyncio.run(collect())
    assert chunks == completion_chunks(asyncio.run(client.achat({})))
    assert chunks[0]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1] == {"id": "up-1", "created": 1, "model": "m", "system_fingerprint": None,
                          "object": "chat.completion.chunk", "choices": [],
                          "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                    "total_tokens": 3}}  # fmt: skip
