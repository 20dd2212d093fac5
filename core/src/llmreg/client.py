"""The LLM client interface that provider plugins implement.

A *provider* is a name (``"openai"``, ``"llamacpp"``) that a plugin registers
with a factory: ``factory(definition) -> Client``. A :class:`Client` is built
once per loaded model and answers single requests and batches. The pyfunc
adapter and the serving app only ever talk to this interface.
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
    """One piece of a streamed answer (:meth:`Client.astream`).

    Attributes:
        text: the text that arrived since the previous chunk ("" for none).
        done: set on the last chunk only: the finished answer (its ``text`` is the
            whole answer; usage, finish reason and metadata as from ``complete``).
    """

    text: str = ""
    done: Completion | None = None


#: One batch row's outcome: its completion, or the typed error it ended in.
RowResult = Completion | ProviderError


class Client(abc.ABC):
    """An LLM client for one model definition (and its fallbacks).

    Implement :meth:`complete`; :meth:`batch` has a default that calls it on a
    bounded thread pool. Implementations create their connection pool once and
    reuse it, and must be safe to call from several threads. The owner of a
    client (an adapter, the loader's cache) calls :meth:`close` once.

    A client applies the definition's settings itself (``temperature``,
    ``max_tokens``, ``stop``, ``system_prompt``), each overridden by the row's
    ``request.params``, and raises typed :class:`~llmreg.errors.ProviderError`
    subclasses. Streaming and chat pass-through are declared capabilities
    (:class:`~llmreg.capabilities.StreamingClient`,
    :class:`~llmreg.capabilities.ChatPassThrough`).

    Added in llmreg 0.1.0; ``batch``'s default, ``aclose``, ``astream``, ``achat``
    and ``achat_stream`` in 0.2.0.
    """

    definition: ModelDefinition

    #: The OpenAI chat-completions fields beyond text chat that :meth:`achat` passes to
    #: the endpoint (``tools``, ``tool_choice``, ``response_format``, ``logprobs``,
    #: ``top_logprobs``, ``n``, ``parallel_tool_calls``, and ``tool_messages`` for
    #: messages carrying tool calls). Empty (the default): text chat only.
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
        """Answer many requests with bounded concurrency, keeping their order.

        A row that fails yields its :class:`ProviderError` in place; it never
        loses the other rows. Callable from sync code with or without a running
        event loop in the calling thread.

        The default calls :meth:`complete` for each row on up to ``concurrency``
        threads (default: the definition's ``concurrency``). A client with its own
        async or batch path overrides it.
        """
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

        Optional. The default answers with :meth:`complete` (in a worker thread) and
        yields the whole answer as one chunk with ``done`` set; a client whose
        endpoint streams overrides it to yield text as it arrives. A failure before
        the first chunk (fallbacks included) or after it raises a typed
        :class:`ProviderError`.
        """
        import asyncio

        done = await asyncio.to_thread(self.complete, request)
        yield StreamChunk(text=done.text, done=done)

    async def achat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send an OpenAI chat-completions body as given and return the endpoint's answer.

        Optional, for a client whose :data:`CHAT_FIELDS` is not empty: ``body`` holds
        ``messages`` (OpenAI's shape, tool calls included), generation settings and
        the fields of :data:`CHAT_FIELDS`; the client adds its model, system prompt
        and defaults, tries its fallbacks, and returns the ``chat.completion`` JSON.

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
        """Stream a passed-through chat body (see :meth:`achat`): the endpoint's chunks.

        Yields ``chat.completion.chunk`` objects in OpenAI's shape as the endpoint
        sends them: per choice (``index``) its deltas (content, ``tool_calls``
        fragments with their ``index``, ``id``, ``function.name`` and
        ``function.arguments`` pieces), ``logprobs`` and ``finish_reason``; then a
        chunk with ``choices: []`` and the ``usage``. ``body`` is as for
        :meth:`achat` and has no ``stream`` fields: the client asks for them.

        Optional. The default awaits :meth:`achat` and yields its answer as chunks
        (:func:`completion_chunks`), for a client whose endpoint does not stream.
        Fallbacks apply before the first chunk only.

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
