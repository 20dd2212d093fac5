"""An exact-match response cache keyed by the resolved registered version.

The cache key is the sha256 of the resolved version (``models:/chat/3``, never the
alias or the name the client sent, so a promotion never serves the old version's
answers), the scope (the key id, or ``*`` when configured shared) and the request
normalized: JSON with sorted keys, without ``model``, ``stream``, ``stream_options``
and ``user`` (they change the envelope or the bill, not the answer). Entries live
``ttl`` seconds. A request's ``Cache-Control: no-cache`` skips the lookup (the fresh
answer is stored); ``no-store`` skips both.

A stored answer is a non-streamed ``chat.completion``; :func:`replay_events` turns it
into the server-sent events of a streamed one.

This module raises the state's errors; the policy (the cache fails open) is
:class:`~llmreg_gateway.controls.Controls`'.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from llmreg_gateway import sse
from llmreg_gateway.controls.state import StateBackend

#: Request fields left out of the cache key.
IGNORED = frozenset({"model", "stream", "stream_options", "user"})
#: The response header that marks a cache hit (``hit``) or a miss stored (``miss``).
CACHE_HEADER = "x-llmreg-cache"
#: The scope of a cache shared by every key.
SHARED = "*"


def cache_control(header: str | None) -> tuple[bool, bool]:
    """Whether a request may read and may write the cache, from its ``Cache-Control``.

    ``no-store``: neither; ``no-cache``: write only; otherwise both.
    """
    if not header:
        return True, True
    directives = {d.strip().lower().partition("=")[0] for d in header.split(",")}
    if "no-store" in directives:
        return False, False
    return "no-cache" not in directives, True


def request_key(version: str, scope: str, body: Mapping[str, Any]) -> str:
    """The cache key of ``body`` sent to ``version`` within ``scope``."""
    normalized = {k: v for k, v in body.items() if k not in IGNORED}
    text = json.dumps(normalized, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{version}\n{scope}\n{text}".encode()).hexdigest()
    return f"cache:{digest}"


class ResponseCache:
    """Answers by request key in a state backend.

    Args:
        state: where entries live (shared by replicas when it is Redis).
        ttl: seconds an entry lives.
        shared: one cache for every key (``False``: each key sees only its own entries).
    """

    def __init__(self, state: StateBackend, ttl: float, *, shared: bool = False) -> None:
        self.state = state
        self.ttl = ttl
        self.shared = shared

    def key(self, version: str, key_id: str, body: Mapping[str, Any]) -> str:
        """The cache key of a request by ``key_id`` to ``version``."""
        return request_key(version, SHARED if self.shared else key_id, body)

    async def get(self, cache_key: str) -> dict[str, Any] | None:
        """The stored answer, or ``None`` (a stored entry that is not a JSON object is
        a miss, never served)."""
        raw = await self.state.get(cache_key)
        if raw is None:
            return None
        try:
            answer = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return answer if isinstance(answer, dict) else None

    async def put(self, cache_key: str, answer: Mapping[str, Any]) -> None:
        """Store a ``chat.completion`` answer for :attr:`ttl` seconds."""
        data = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
        await self.state.set(cache_key, data, self.ttl)


def _event(data: Mapping[str, Any]) -> str:
    return sse.event(data)


def replay_events(answer: Mapping[str, Any], *, include_usage: bool = False) -> list[str]:
    """The server-sent events of ``answer`` (a ``chat.completion``) as if streamed.

    Per choice: one chunk with the role, content and tool calls, then one with the
    finish reason; then the usage chunk if ``include_usage``; then ``[DONE]``.
    """
    base = {
        "id": answer.get("id"),
        "object": "chat.completion.chunk",
        "created": answer.get("created"),
        "model": answer.get("model"),
    }
    if answer.get("system_fingerprint") is not None:
        base["system_fingerprint"] = answer["system_fingerprint"]
    events = []
    choices = answer.get("choices") or []
    for choice in choices:
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": message.get("role", "assistant")}
        if message.get("content") is not None:
            delta["content"] = message["content"]
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {"index": i, **call} for i, call in enumerate(message["tool_calls"])
            ]
        first = {"index": choice.get("index", 0), "delta": delta, "finish_reason": None}
        if "logprobs" in choice:
            first["logprobs"] = choice["logprobs"]
        events.append(_event({**base, "choices": [first]}))
    for choice in choices:
        last = {
            "index": choice.get("index", 0),
            "delta": {},
            "finish_reason": choice.get("finish_reason", "stop"),
        }
        events.append(_event({**base, "choices": [last]}))
    if include_usage:
        events.append(_event({**base, "choices": [], "usage": answer.get("usage")}))
    events.append(sse.DONE)
    return events


class Assembler:
    """Rebuilds the ``chat.completion`` of a streamed answer from its chunks, so a
    streamed request's answer can be stored too (:meth:`feed` each chunk, then
    :meth:`answer`). Content and tool-call arguments are joined per choice and index."""

    def __init__(self) -> None:
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: Any = None

    def feed(self, chunk: Mapping[str, Any]) -> None:
        """Take one ``chat.completion.chunk``."""
        if not self._head:
            self._head = {k: chunk.get(k) for k in ("id", "created", "model")}
            if chunk.get("system_fingerprint") is not None:
                self._head["system_fingerprint"] = chunk["system_fingerprint"]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for part in chunk.get("choices") or []:
            index = part.get("index", 0)
            choice = self._choices.setdefault(
                index,
                {"index": index, "message": {"role": "assistant", "content": None},
                 "finish_reason": None},
            )  # fmt: skip
            delta, message = part.get("delta") or {}, choice["message"]
            if delta.get("content") is not None:
                message["content"] = (message["content"] or "") + delta["content"]
            for call in delta.get("tool_calls") or []:
                _merge_call(message.setdefault("tool_calls", []), call)
            if part.get("finish_reason"):
                choice["finish_reason"] = part["finish_reason"]

    def answer(self) -> dict[str, Any]:
        """The ``chat.completion`` the chunks make up."""
        choices = [self._choices[i] for i in sorted(self._choices)]
        answer = {**self._head, "object": "chat.completion", "choices": choices}
        if self._usage is not None:
            answer["usage"] = self._usage
        return answer


def _merge_call(calls: list[dict[str, Any]], fragment: Mapping[str, Any]) -> None:
    index = fragment.get("index", len(calls))
    while len(calls) <= index:
        calls.append({"function": {"name": "", "arguments": ""}})
    call = calls[index]
    for field in ("id", "type"):
        if fragment.get(field):
            call[field] = fragment[field]
    function = fragment.get("function") or {}
    for field in ("name", "arguments"):
        if function.get(field):
            call["function"][field] += function[field]


__all__ = [
    "CACHE_HEADER",
    "IGNORED",
    "SHARED",
    "Assembler",
    "ResponseCache",
    "cache_control",
    "replay_events",
    "request_key",
]
