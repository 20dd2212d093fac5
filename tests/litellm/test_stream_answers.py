"""A stream request is answered by a whole stream, or fails: never an empty success.

A real HTTP server on 127.0.0.1 answers ``"stream": true`` the ways upstreams do when
they do not stream: one JSON body (it ignored ``stream``), an HTML page with status
200, another content type, a non-2xx status, a stream with no choice, a body cut
short. On both upstream paths (the lean one and the SDK's), for the text stream
(``astream``) and the passed-through one (``achat_stream``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from llmreg import Request
from llmreg.errors import ProviderError, ProviderResponseError, ProviderUnreachableError
from llmreg_litellm._endpoint import Endpoint
from support.scripted_server import Reply, ScriptedServer, Seen

ROW = Request(input="hi")
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello world"},
            "finish_reason": "length",
        }
    ],
    "usage": USAGE,
}
TOOL_CALL = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
TOOL_CHOICE = {
    "index": 0,
    "finish_reason": "tool_calls",
    "message": {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
}


def _sse(*events: Any, done: bool = True) -> bytes:
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


def _chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


SSE = {"Content-Type": "text/event-stream"}
HTML = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
#: What the server answers, by the model name the request asks for.
ANSWERS: dict[str, Reply] = {
    "json": Reply.json(COMPLETION),
    "json-tools": Reply.json({**COMPLETION, "choices": [TOOL_CHOICE]}),
    "json-empty": Reply.json({"choices": []}),
    "json-shape": Reply.json({"result": "hello"}),
    "json-list": Reply.json([COMPLETION]),
    "json-error": Reply.json({"error": {"message": "upstream overloaded", "type": "server"}}),
    "json-cut": Reply(200, {"Content-Type": "application/json"}, b'{"choices": [{"ind', "close"),
    "html": Reply(200, {"Content-Type": "text/html; charset=utf-8"}, HTML),
    "plain": Reply(200, {"Content-Type": "text/plain"}, b"hello"),
    "status-500-html": Reply(500, {"Content-Type": "text/html"}, HTML),
    "status-202": Reply(202, {}, b""),
    "sse-no-choice": Reply(200, SSE, _sse({"choices": [], "usage": USAGE})),
    "sse-nothing": Reply(200, SSE, b": keep-alive\n\n", "close"),
    "sse-cut": Reply(200, SSE, _sse(_chunk("hel"), _chunk("lo"), done=False), "close"),
    "sse-cut-mid-event": Reply(200, SSE, _sse(_chunk("hel"), done=False) + b'data: {"cho', "close"),
    "sse-short": Reply(200, SSE, _sse(_chunk("hel"), done=False), "short"),
    "sse-finished-no-done": Reply(
        200, SSE, _sse(_chunk("hello"), _chunk(finish="stop"), done=False), "close"
    ),
}


def _script(seen: Seen) -> Reply:
    body = seen.json()
    assert body["stream"] is True
    return ANSWERS[body["model"]]


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedServer]:
    with ScriptedServer(_script) as srv:
        yield srv


@pytest.fixture(params=["lean", "sdk"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sdk":
        monkeypatch.setattr(Endpoint, "poster", lambda self: None)
    return str(request.param)


@pytest.fixture
def client_for(make_client: Any, upstream: ScriptedServer) -> Any:
    def make(model: str, **fields: Any) -> Any:
        return make_client(model, base_url=f"{upstream.url}/v1", max_retries=0, **fields)

    return make


def _text_stream(client: Any) -> list[Any]:
    async def run() -> list[Any]:
        return [c async for c in client.astream(ROW)]

    return asyncio.run(run())


def _chunks(client: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        body = {"messages": [{"role": "user", "content": "hi"}], "n": 1}
        return [c async for c in client.achat_stream(body)]

    return asyncio.run(run())


def test_a_json_completion_answering_a_stream_becomes_its_stream(path, client_for):
    chunks = _text_stream(client_for("json"))
    assert "".join(c.text for c in chunks) == "hello world"
    done = chunks[-1].done
    assert done.finish_reason == "length" and done.total_tokens == 5
    passed = _chunks(client_for("json"))
    assert passed[0]["object"] == "chat.completion.chunk" and passed[0]["id"] == "c1"
    assert passed[0]["choices"][0]["delta"] == {"role": "assistant", "content": "hello world"}
    assert passed[0]["choices"][0]["finish_reason"] == "length"
    assert passed[-1]["choices"] == [] and passed[-1]["usage"] == USAGE


def test_tool_calls_of_a_json_completion_stream_with_their_index(path, client_for):
    chunk, usage = _chunks(client_for("json-tools"))
    assert usage["usage"] == USAGE
    assert chunk["choices"][0]["delta"]["tool_calls"] == [{"index": 0, **TOOL_CALL}]
    assert chunk["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("model", "error", "said"),
    [
        ("json-empty", ProviderResponseError, "no choice"),
        ("json-shape", ProviderResponseError, "not a chat completion"),
        ("json-list", ProviderResponseError, "not a chat completion"),
        ("json-error", ProviderError, "upstream overloaded"),
        ("json-cut", ProviderResponseError, "cut or malformed"),
        ("html", ProviderResponseError, "text/html"),
        ("plain", ProviderResponseError, "text/plain"),
        ("status-500-html", ProviderResponseError, "HTTP 500"),
        ("status-202", ProviderResponseError, "no choice"),
        ("sse-no-choice", ProviderResponseError, "no choice"),
        ("sse-nothing", ProviderResponseError, "no choice"),
        ("sse-cut", ProviderUnreachableError, "cut short"),
        ("sse-cut-mid-event", ProviderUnreachableError, "cut short"),
        ("sse-short", ProviderUnreachableError, "dropped the connection"),
    ],
)
@pytest.mark.parametrize("reader", ["astream", "achat_stream"])
def test_what_is_no_whole_stream_is_a_typed_error(path, reader, model, error, said, client_for):
    client = client_for(model)
    got: list[Any] = []

    async def run() -> None:
        if reader == "astream":
            async for chunk in client.astream(ROW):
                got.append(chunk)
        else:
            async for chunk in client.achat_stream(
                {"messages": [{"role": "user", "content": "x"}]}
            ):
                got.append(chunk)

    with pytest.raises(error, match=said) as info:
        asyncio.run(run())
    assert not [c for c in got if getattr(c, "done", None) is not None]  # no answer ended well
    assert "unexpected" not in str(info.value).lower()


def test_a_stream_that_finished_without_done_is_an_answer(path, client_for):
    chunks = _text_stream(client_for("sse-finished-no-done"))
    assert "".join(c.text for c in chunks) == "hello"
    assert chunks[-1].done.finish_reason == "stop"


@pytest.mark.parametrize("broken", ["html", "sse-no-choice", "json-empty"])
def test_a_broken_stream_goes_to_the_fallback(path, broken, client_for, upstream):
    fallback = {"model": "json", "base_url": f"{upstream.url}/v1"}
    chunks = _text_stream(client_for(broken, fallbacks=[fallback]))
    assert "".join(c.text for c in chunks) == "hello world"
    assert chunks[-1].done.extra["fallback_index"] == 1
    passed = _chunks(client_for(broken, fallbacks=[fallback]))
    assert passed[0]["choices"][0]["delta"]["content"] == "hello world"
