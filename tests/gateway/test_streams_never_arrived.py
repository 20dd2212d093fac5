"""A stream that never arrived is an HTTP error, and a stream cut short ends in an error event.

The client is the official ``openai`` SDK, the gateway is served by uvicorn, and the
upstream is the fake OpenAI server misbehaving on purpose (tests/support/openai_server.py):
an HTML page, JSON, ``{"choices": []}``, an event that is not JSON, a 500, a dropped
connection, a body that ends cleanly in the middle of the answer. The SDK must raise,
never hand back an empty answer that ended with ``finish_reason: "stop"``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid

import httpx
import openai
import pytest

from .conftest import TOOL

#: Upstream answers to a stream request that hold no answer at all.
NEVER_ARRIVED = ["html", "sseempty", "ssegarbage", "malformed", "empty", "shape", "drop", "500"]


@pytest.fixture
def gateway(serve, upstream, tmp_path, monkeypatch, ready):
    """Serve a folder model of the ``openai`` provider at ``upstream``; return a function
    taking the model name (and fallbacks) and giving the gateway's URL."""
    from llmreg_gateway import create_app

    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "sk-upstream-never-77")

    def start(model: str = "gpt-stream", fallbacks: list[str] = ()) -> str:
        folder = tmp_path / uuid.uuid4().hex
        folder.mkdir()
        definition = {
            "provider": "openai", "model": model, "base_url": upstream.base_url,
            "api_key": "env:FAKE_UPSTREAM_KEY", "max_retries": 0,
            "fallbacks": [{"model": name} for name in fallbacks],
        }  # fmt: skip
        (folder / "model_definition.json").write_text(json.dumps(definition))
        app = create_app(f"folder:{folder}", loader={"KIND": "FolderLoader"}, reload_interval=0)
        server = serve(app)
        ready(server.url)
        return server.url

    return start


def _sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def _read(url: str, text: str, **extra) -> tuple[list[str], list[str | None]]:
    """Stream through the SDK; return the texts and finish reasons it handed over."""
    texts: list[str] = []
    finishes: list[str | None] = []
    with _sdk(url) as sdk:
        model = sdk.models.list().data[0].id
        for chunk in sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}], stream=True, **extra
        ):
            for choice in chunk.choices:
                texts.append(choice.delta.content or "")
                finishes.append(choice.finish_reason)
    return texts, finishes


def _raw(url: str, text: str, **extra) -> httpx.Response:
    with _sdk(url) as sdk:
        model = sdk.models.list().data[0].id
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": True}
    return httpx.post(f"{url}/v1/chat/completions", json={**body, **extra}, timeout=30)


@pytest.mark.parametrize("passthrough", [False, True], ids=["text", "tools"])
@pytest.mark.parametrize("fault", NEVER_ARRIVED)
def test_an_upstream_that_never_streamed_is_a_502_before_any_event(
    gateway, upstream, fault, passthrough
):
    url = gateway()
    extra = {"tools": [TOOL]} if passthrough else {}
    with pytest.raises(openai.APIStatusError) as caught:
        _read(url, f"[fault {fault}] hello", **extra)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_error"
    raw = _raw(url, f"[fault {fault}] hello", **extra)
    assert raw.status_code == 502
    assert raw.headers["content-type"].startswith("application/json")
    assert "data:" not in raw.text
    assert str(upstream.port) not in raw.text  # no internal URL in the body
    assert "sk-upstream-never-77" not in raw.text


@pytest.mark.parametrize("passthrough", [False, True], ids=["text", "tools"])
def test_a_whole_json_answer_to_a_stream_request_is_never_an_empty_success(gateway, passthrough):
    url = gateway()
    extra = {"tools": [TOOL]} if passthrough else {}
    raw = _raw(url, "[fault nostream] one two", **extra)
    if raw.status_code == 502:  # refused, or (read as chunks) answered: both honest
        return
    assert raw.status_code == 200
    texts, finishes = _read(url, "[fault nostream] one two", **extra)
    assert "".join(texts) or passthrough  # a tool call may carry no text
    assert any(finishes)


@pytest.mark.parametrize("passthrough", [False, True], ids=["text", "tools"])
@pytest.mark.parametrize("how", ["end", "cut", "error event"])
def test_a_stream_broken_after_its_first_chunk_ends_with_an_error_event(
    gateway, upstream, how, passthrough
):
    url = gateway()
    extra = {"tools": [TOOL]} if passthrough else {}
    text = f"[{how} 2] one two three four"
    with pytest.raises(openai.APIError):
        _read(url, text, **extra)
    raw = _raw(url, text, **extra)
    assert raw.status_code == 200  # it had started: the error is the last event
    events = [line[6:] for line in raw.text.splitlines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_error" and error["message"]
    assert str(upstream.port) not in raw.text
    finishes = [c.get("finish_reason") for e in events[:-1] for c in json.loads(e)["choices"]]
    assert not any(finishes)  # no made-up "stop"


@pytest.mark.parametrize(
    "primary", ["fault-500", "fault-drop", "fault-html", "fault-sseempty", "fault-empty"]
)
@pytest.mark.parametrize("passthrough", [False, True], ids=["text", "tools"])
def test_a_primary_failing_before_its_first_chunk_falls_back(
    gateway, upstream, primary, passthrough
):
    fallback = f"gpt-fallback-{uuid.uuid4().hex[:8]}"
    url = gateway(f"{primary}-{uuid.uuid4().hex[:8]}", [fallback])
    extra = {"tools": [TOOL]} if passthrough else {}
    texts, finishes = _read(url, "one two", **extra)
    assert upstream.count(fallback) == 1
    assert finishes[-1] in ("stop", "tool_calls")
    if not passthrough:
        assert "".join(texts) == "echo: one two"


def test_a_model_whose_stream_works_still_streams(gateway):
    texts, finishes = _read(gateway(), "one two three")
    assert "".join(texts) == "echo: one two three" and finishes[-1] == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_a_502_names_a_request_id_and_only_the_log_has_the_detail(
    gateway, upstream, caplog, stream
):
    caplog.set_level(logging.WARNING, logger="llmreg_gateway")
    url = gateway(f"fault-401-{uuid.uuid4().hex[:6]}")  # the upstream quotes the key it got
    with _sdk(url) as sdk:
        model = sdk.models.list().data[0].id
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], stream=stream
            )
    assert caught.value.status_code == 502
    message = caught.value.body["message"]
    assert str(upstream.port) not in message and "sk-upstream-never-77" not in message
    rid = re.search(r"request id (req_[0-9a-f]+)", message).group(1)
    logged = [r.getMessage() for r in caplog.records if rid in r.getMessage()]
    assert len(logged) == 1 and f"127.0.0.1:{upstream.port}" in logged[0]
    assert "sk-upstream-never-77" not in caplog.text
