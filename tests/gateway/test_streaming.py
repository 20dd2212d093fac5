"""Real streaming: the upstream's tokens pass through as they come, with usage, [DONE], errors.

The upstream is the fake OpenAI server (tests/support/openai_server.py); the model is an
``openai``-provider definition (llmreg-litellm) in a folder; the client is the official SDK.
"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def _stream(url: str, text: str, **extra):
    with _client(url) as client:
        model = client.models.list().data[0].id
        yield from client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}], stream=True, **extra
        )


def test_a_stream_passes_each_upstream_chunk_with_usage_and_done(app_url, upstream):
    chunks = list(_stream(app_url, "one two three", stream_options={"include_usage": True}))
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == ["echo:", " one", " two", " three"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert chunks[-1].usage.prompt_tokens == 3
    sent = upstream.chat_requests("gpt-stream")[-1].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    raw = httpx.post(
        f"{app_url}/v1/chat/completions",
        json={"model": chunks[0].model, "messages": [{"role": "user", "content": "x"}],
              "stream": True},
    )  # fmt: skip
    assert raw.text.rstrip().endswith("data: [DONE]")
    assert raw.headers["x-llmreg-model-version"] == ""  # a folder model has no version


def test_the_first_token_arrives_before_the_upstream_has_finished(app_url):
    start = time.perf_counter()
    arrivals = []
    for chunk in _stream(app_url, "[gap 150] a b c d"):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - start)
    assert len(arrivals) == 7  # "echo:", " [gap", " 150]", " a", ...: one per upstream chunk
    assert arrivals[-1] - arrivals[0] > 0.5  # spread over the upstream's gaps, not bunched
    assert arrivals[0] < 0.5


def test_an_upstream_failing_mid_stream_ends_with_an_error_event(app_url):
    texts: list[str] = []

    def read() -> None:
        for chunk in _stream(app_url, "[cut 2] a b c d"):
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)

    with pytest.raises(openai.APIError) as caught:
        read()
    assert texts == ["echo:", " [cut"]
    assert "sk-upstream-abc123" not in str(caught.value)
    raw = httpx.post(
        f"{app_url}/v1/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": "[cut 1] a b"}],
              "stream": True},
    )  # fmt: skip
    assert raw.status_code == 404  # model "x" is not served: an error before any event
    with _client(app_url) as client:
        model = client.models.list().data[0].id
    raw = httpx.post(
        f"{app_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "[cut 1] a b"}],
              "stream": True},
    )  # fmt: skip
    events = [line[6:] for line in raw.text.splitlines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "upstream_error"


def test_an_upstream_failing_before_the_first_token_is_an_http_error(app_url):
    with pytest.raises(openai.APIStatusError) as caught:
        list(_stream(app_url, "[fault 503] x"))
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_error"
    with pytest.raises(openai.BadRequestError) as refused:
        list(_stream(app_url, "[fault 400] x"))
    assert refused.value.body["code"] == "upstream_bad_request"
