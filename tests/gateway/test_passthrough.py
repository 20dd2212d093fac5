"""Tools, JSON mode, logprobs and n pass through to a provider that takes them, in OpenAI's shape.

The upstream is the fake OpenAI server, which answers tools with tool calls, JSON mode
with a JSON object, ``n`` with that many choices and ``logprobs`` per word. The echo
provider takes text chat only: it gets a 400 naming the field.
"""

from __future__ import annotations

import json

import openai
import pytest

from .conftest import TOOL


def _create(client, **kwargs):
    return client.chat.completions.create(model=client.served_model, **kwargs)


def test_tools_come_back_as_tool_calls_and_a_tool_result_is_answered(client, upstream):
    first = _create(
        client,
        messages=[{"role": "user", "content": "paris"}],
        tools=[TOOL],
        tool_choice="auto",
        parallel_tool_calls=False,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {
        "text": "paris"
    }
    sent = upstream.chat_requests("gpt-stream")[-1].body
    assert sent["tools"] == [TOOL] and sent["tool_choice"] == "auto"
    assert sent["parallel_tool_calls"] is False
    second = _create(
        client,
        messages=[
            {"role": "user", "content": "paris"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "capital of France"},
        ],
        tools=[TOOL],
    )
    assert second.choices[0].message.content == "tool said: capital of France"
    assert upstream.chat_requests("gpt-stream")[-1].body["messages"][1]["tool_calls"][0]["id"] == (
        call.id
    )
    assert second.system_fingerprint == "llmreg:" + client.served_model + ":v?"


def test_json_mode_and_json_schema(client):
    answer = _create(
        client,
        messages=[{"role": "user", "content": "x"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(answer.choices[0].message.content) == {"echo": "x"}
    schema = {"name": "echo", "schema": {"type": "object"}}
    answer = _create(
        client,
        messages=[{"role": "user", "content": "y"}],
        response_format={"type": "json_schema", "json_schema": schema},
    )
    assert json.loads(answer.choices[0].message.content) == {"echo": "y"}


def test_n_and_logprobs(client):
    answer = _create(
        client, messages=[{"role": "user", "content": "a b"}], n=3, logprobs=True, top_logprobs=2
    )
    assert [c.index for c in answer.choices] == [0, 1, 2]
    tokens = answer.choices[0].logprobs.content
    assert [t.token for t in tokens] == ["echo:", "a", "b"]
    assert len(tokens[0].top_logprobs) == 2
    assert answer.usage.completion_tokens == 3


def test_tool_calls_stream_in_openai_shape(client):
    chunks = list(
        _create(
            client,
            messages=[{"role": "user", "content": "[two calls] go"}],
            tools=[TOOL],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    calls = [c for ch in chunks if ch.choices for c in ch.choices[0].delta.tool_calls or ()]
    heads = [c for c in calls if c.id]  # streamed: a head per call, then argument fragments
    assert [c.index for c in heads] == [0, 1]
    assert {c.function.name for c in heads} == {"lookup"}
    arguments = ["".join(c.function.arguments or "" for c in calls if c.index == i) for i in (0, 1)]
    assert [json.loads(a) for a in arguments] == [{"text": "[two calls] go"}] * 2
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None


def test_a_provider_without_pass_through_gets_a_400_naming_the_field(served):
    with openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0) as echo:
        for kwargs, field in (
            ({"tools": [TOOL]}, "tools"),
            ({"response_format": {"type": "json_object"}}, "response_format"),
            ({"logprobs": True}, "logprobs"),
            ({"n": 2}, "n"),
        ):
            with pytest.raises(openai.BadRequestError) as caught:
                echo.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": "x"}], **kwargs
                )
            assert caught.value.body["param"] == field
            assert "echo" in caught.value.body["message"]
        plain = echo.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "x"}],
            response_format={"type": "text"},
            logprobs=False,
            n=1,
        )
        assert plain.choices[0].message.content == "echo: x"
