"""The LLM client interface that provider plugins implement.

A *provider* is a name (``"openai"``) that a plugin registers with a factory,
``factory(definition) -> Client``. A :class:`Client` is built once per loaded model
and answers single requests and batches; the row loop only talks to this interface.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from llmreg.definition import ModelDefinition
from llmreg.errors import ProviderError
from llmreg.schemas import Request


@dataclass(frozen=True)
class Completion:
    """What one answered request returns: the text and the call's metadata."""

    text: str
    model: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    finish_reason: str | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """Return the call's metadata as a JSON-ready dict."""
        return {
            "model": self.model,
            "latency_ms": round(self.latency_ms, 3),
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens,
            },
            "finish_reason": self.finish_reason,
            "attempts": self.attempts,
            **self.extra,
        }


@dataclass(frozen=True)
class StreamChunk:
    """One piece of a streamed answer (:meth:`Client.astream`): the ``text`` since the
    previous chunk, and on the last chunk only, ``done``, the whole answer."""

    text: str = ""
    done: Completion | None = None


#: One batch row's outcome: its completion, or the typed error it ended in.
RowResult = Completion | ProviderError


class Client(abc.ABC):
    """An LLM client for one model definition (and its fallbacks).

    Implement :meth:`complete` (thread-safe, one connection pool reused); the other
    methods have defaults. The client's owner calls :meth:`close` once.

    A client applies the definition's settings itself (``temperature``,
    ``max_tokens``, ``stop``, the system prompt), each overridden by the row's
    ``request.params``, and raises typed :class:`~llmreg.errors.ProviderError`
    subclasses. Streaming and chat pass-through are declared capabilities
    (:class:`~llmreg.capabilities.StreamingClient`,
    :class:`~llmreg.capabilities.ChatPassThrough`).

    Added in llmreg 0.1.0; ``batch``'s default, ``aclose``, ``astream``, ``achat``
    and ``achat_stream`` in 0.2.0.
    """

    definition: ModelDefinition

    #: The OpenAI chat fields beyond text chat that :meth:`achat` passes on (``tools``,
    #: ``response_format``, ``logprobs``, ``n``...; ``tool_messages`` for tool calls).
    CHAT_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, definition: ModelDefinition) -> None:
        """Keep ``definition``; a subclass that opens connections calls ``super().__init__``."""
        self.definition = definition

    @abc.abstractmethod
    def complete(self, request: Request) -> Completion:
        """Answer one request, trying fallbacks in order.

        Raises:
            ProviderError: a typed subclass, when every model failed.
        """

    def batch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Answer many requests on up to ``concurrency`` threads (default: the
        definition's), keeping their order; a failed row is its :class:`ProviderError`,
        in place. Callable with or without a running event loop in the thread."""
        from concurrent.futures import ThreadPoolExecutor

        def one(request: Request) -> RowResult:
            try:
                return self.complete(request)
            except ProviderError as exc:
                return exc

        rows = list(requests)
        workers = max(1, min(len(rows), concurrency or self.definition.concurrency))
        if workers == 1:
            return [one(r) for r in rows]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmreg-batch") as pool:
            return list(pool.map(one, rows))

    async def abatch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Async form of :meth:`batch`. The default runs :meth:`batch` in a worker thread."""
        import asyncio

        return await asyncio.to_thread(self.batch, requests, concurrency=concurrency)

    async def astream(self, request: Request) -> AsyncIterator[StreamChunk]:
        """Answer one request as it is generated: text chunks, then one with ``done`` set.

        The default yields :meth:`complete`'s answer as one chunk; a failure, before the
        first chunk (fallbacks included) or after it, raises a typed :class:`ProviderError`.
        """
        import asyncio

        done = await asyncio.to_thread(self.complete, request)
        yield StreamChunk(text=done.text, done=done)

    async def achat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send an OpenAI chat-completions body (``messages``, settings and the fields of
        :data:`CHAT_FIELDS`) with the client's model, system prompt and defaults added,
        trying its fallbacks; return the ``chat.completion`` JSON.

        Raises:
            ConfigError: the client passes no such fields (the default).
            ProviderError: a typed subclass, when every model failed.
        """
        from llmreg.errors import ConfigError

        raise ConfigError(
            f"provider {self.definition.provider!r} takes text chat only: it passes no "
            "tools, response_format, logprobs or n through"
        )

    async def achat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream a passed-through chat body (see :meth:`achat`): the endpoint's
        ``chat.completion.chunk`` objects in OpenAI's shape, then one with ``choices: []``
        and the ``usage``. The default yields :meth:`achat`'s answer as chunks
        (:func:`completion_chunks`). Fallbacks apply before the first chunk only.

        Raises:
            ConfigError: the client passes no such fields (the default).
            ProviderError: a typed subclass: before the first chunk, when every model
                failed; after it, when the stream broke.
        """
        for chunk in completion_chunks(await self.achat(body)):
            yield chunk

    def close(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Release connections and background resources. Safe to call twice."""

    async def aclose(self) -> None:
        """Async form of :meth:`close`; the default calls :meth:`close`."""
        self.close()


def completion_chunks(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole ``chat.completion`` as ``chat.completion.chunk`` objects, in OpenAI's order.

    Per choice: one delta holding its whole message (each tool call with its
    ``index``) and its ``logprobs``, then one with its ``finish_reason``; last, a
    chunk with ``choices: []`` and the ``usage``.
    """
    base = {k: data.get(k) for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    chunks: list[dict[str, Any]] = []
    for choice in data.get("choices") or ():
        message = dict(choice.get("message") or {})
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            message["tool_calls"] = [{**c, "index": i} for i, c in enumerate(calls)]
        index = choice.get("index", 0)
        delta = {"index": index, "delta": message, "finish_reason": None,
                 "logprobs": choice.get("logprobs")}  # fmt: skip
        finish = {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
        chunks += [{**base, "choices": [delta]}, {**base, "choices": [finish]}]
    chunks.append({**base, "choices": [], "usage": data.get("usage")})
    return chunks


#: What a provider plugin registers: builds a :class:`Client` from a definition.
ClientFactory = Callable[[ModelDefinition], Client]

__all__ = ["Client", "ClientFactory", "Completion", "RowResult", "StreamChunk", "completion_chunks"]
