"""The response cache: keyed by the resolved version and the normalized request, per key."""

from __future__ import annotations

import asyncio
import json

from llmreg_gateway.auth import ApiKey, key_hash
from llmreg_gateway.controls import Admission, Controls, ControlSettings
from llmreg_gateway.controls.cache import Assembler, cache_control, replay_events, request_key

from .conftest import Backend

KEY = ApiKey(key_hash("cache-key"))
OTHER = ApiKey(key_hash("cache-other"))
BODY = {"model": "chat", "messages": [{"role": "user", "content": "capital of France?"}]}
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "chat",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}


def controls(backend: Backend, **settings: object) -> Controls:
    return Controls(backend.new(), ControlSettings(cache_ttl=60, **settings))  # type: ignore[arg-type]


async def miss_then_store(c: Controls, version: str, key: ApiKey = KEY) -> Admission:
    admission = await c.admit(key, "chat", version, BODY)
    assert await c.cached(admission, BODY) is None
    assert await c.store(admission, ANSWER)
    return admission


def test_the_key_ignores_order_stream_user_and_the_name_sent() -> None:
    base = request_key("models:/chat/3", "k", BODY)
    reordered = {"messages": BODY["messages"], "model": "models:/chat@champion"}
    assert request_key("models:/chat/3", "k", reordered) == base
    assert request_key("models:/chat/3", "k", {**BODY, "stream": True, "user": "u1"}) == base
    assert request_key("models:/chat/4", "k", BODY) != base
    assert request_key("models:/chat/3", "k2", BODY) != base
    assert request_key("models:/chat/3", "k", {**BODY, "temperature": 0}) != base


def test_an_answer_stored_by_one_instance_is_served_by_the_other(backend: Backend) -> None:
    async def main() -> None:
        one, two = controls(backend), controls(backend)
        await miss_then_store(one, "models:/chat/3")
        admission = await two.admit(KEY, "chat", "models:/chat/3", {**BODY, "stream": True})
        assert await two.cached(admission, {**BODY, "stream": True}) == ANSWER
        # never across versions: a promotion to version 4 misses
        admission = await two.admit(KEY, "chat", "models:/chat/4", BODY)
        assert await two.cached(admission, BODY) is None
        await one.close()
        await two.close()

    asyncio.run(main())


def test_keys_do_not_share_unless_configured(backend: Backend) -> None:
    async def main() -> None:
        own = controls(backend)
        await miss_then_store(own, "models:/chat/3")
        admission = await own.admit(OTHER, "chat", "models:/chat/3", BODY)
        assert await own.cached(admission, BODY) is None
        shared = controls(backend, cache_shared=True)
        await miss_then_store(shared, "models:/chat/5")
        admission = await shared.admit(OTHER, "chat", "models:/chat/5", BODY)
        assert await shared.cached(admission, BODY) == ANSWER
        await own.close()
        await shared.close()

    asyncio.run(main())


def test_cache_control_bypasses(backend: Backend) -> None:
    async def main() -> None:
        c = controls(backend)
        await miss_then_store(c, "models:/chat/3")
        admission = await c.admit(KEY, "chat", "models:/chat/3", BODY)
        assert await c.cached(admission, BODY, "no-cache") is None  # not read...
        fresh = {**ANSWER, "id": "chatcmpl-2"}
        assert await c.store(admission, fresh)  # ...but the fresh answer is stored
        admission = await c.admit(KEY, "chat", "models:/chat/3", BODY)
        assert await c.cached(admission, BODY, "No-Store, max-age=0") is None
        assert not await c.store(admission, ANSWER)  # no-store: not written either
        admission = await c.admit(KEY, "chat", "models:/chat/3", BODY)
        assert await c.cached(admission, BODY) == fresh
        await c.close()

    asyncio.run(main())


def test_entries_expire(backend: Backend) -> None:
    async def main() -> None:
        c = Controls(backend.new(), ControlSettings(cache_ttl=0.3))
        await miss_then_store(c, "models:/chat/3")
        await asyncio.sleep(0.45)
        admission = await c.admit(KEY, "chat", "models:/chat/3", BODY)
        assert await c.cached(admission, BODY) is None
        await c.close()

    asyncio.run(main())


def test_off_by_default(backend: Backend) -> None:
    async def main() -> None:
        c = Controls(backend.new(), ControlSettings())
        admission = await c.admit(KEY, "chat", "models:/chat/3", BODY)
        assert await c.cached(admission, BODY) is None
        assert not await c.store(admission, ANSWER)
        await c.close()

    asyncio.run(main())


def test_cache_control_parsing() -> None:
    assert cache_control(None) == (True, True)
    assert cache_control("max-age=60") == (True, True)
    assert cache_control("no-cache") == (False, True)
    assert cache_control("private, NO-STORE") == (False, False)


def test_a_hit_replays_as_a_stream() -> None:
    tool_answer = {
        **ANSWER,
        "choices": [
            ANSWER["choices"][0],
            {
                "index": 1,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            },
        ],
    }
    events = replay_events(tool_answer, include_usage=True)
    assert events[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-1" for c in chunks)
    text = "".join(
        ch["delta"].get("content") or "" for c in chunks for ch in c["choices"] if ch["index"] == 0
    )
    assert text == "Paris."
    finishes = {
        ch["index"]: ch["finish_reason"]
        for c in chunks
        for ch in c["choices"]
        if ch["finish_reason"]
    }
    assert finishes == {0: "stop", 1: "tool_calls"}
    calls = [
        ch["delta"]["tool_calls"]
        for c in chunks
        for ch in c["choices"]
        if "tool_calls" in ch["delta"]
    ]
    assert calls == [
        [
            {
                "index": 0,
                "id": "c1",
                "type": "function",
                "function": {"name": "lookup", "arguments": "{}"},
            }
        ]
    ]
    assert chunks[-1]["usage"] == ANSWER["usage"]
    assert chunks[-1]["choices"] == []
    assert len(replay_events(ANSWER)) == 3  # role+content, finish, [DONE]


def test_a_streamed_answer_is_assembled_for_storing() -> None:
    streamed = [
        {
            "id": "c9",
            "object": "chat.completion.chunk",
            "created": 5,
            "model": "chat",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "Par"},
                    "finish_reason": None,
                }
            ],
        },
        {
            "id": "c9",
            "object": "chat.completion.chunk",
            "created": 5,
            "model": "chat",
            "choices": [
                {"index": 0, "delta": {"content": "is."}, "finish_reason": None},
                {
                    "index": 1,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "t1",
                                "type": "function",
                                "function": {"name": "lookup", "arguments": '{"te'},
                            }
                        ]
                    },
                    "finish_reason": None,
                },
            ],
        },
        {
            "id": "c9",
            "object": "chat.completion.chunk",
            "created": 5,
            "model": "chat",
            "choices": [
                {
                    "index": 1,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'xt": 1}'}}]},
                    "finish_reason": "tool_calls",
                },
                {"index": 0, "delta": {}, "finish_reason": "stop"},
            ],
        },
        {
            "id": "c9",
            "object": "chat.completion.chunk",
            "created": 5,
            "model": "chat",
            "choices": [],
            "usage": ANSWER["usage"],
        },
    ]
    assembler = Assembler()
    for chunk in streamed:
        assembler.feed(chunk)
    answer = assembler.answer()
    assert answer["object"] == "chat.completion"
    assert answer["id"] == "c9"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Paris."}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["choices"][1]["message"]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": '{"text": 1}'}}
    ]
    assert answer["usage"] == ANSWER["usage"]
    # and a replay of it streams the same text back
    again = Assembler()
    for event in replay_events(answer, include_usage=True)[:-1]:
        again.feed(json.loads(event[len("data: ") :]))
    assert again.answer() == answer
