"""ProviderContract: a provider client against an endpoint the kit starts itself.

The kit's server (:mod:`llmreg.testing.server`) speaks OpenAI's chat-completions
API unless the contract's ``endpoint`` describes another API. It records every
request, so the checks see the settings the client sent; it answers 401, 429,
500 or too late on demand, so the checks see the errors the client raises; and it
counts connections, so they see what ``close()`` left open.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from llmreg import errors
from llmreg.capabilities import StreamingClient
from llmreg.client import Client, Completion, StreamChunk
from llmreg.definition import ModelDefinition
from llmreg.schemas import Params, Request
from llmreg.testing import isolated_manager
from llmreg.testing.failures import check_signature, contract_failure, expect, expect_raises
from llmreg.testing.server import Endpoint, KitServer

#: What each failure mode of the kit's server must raise.
TYPED_ERRORS: dict[str, tuple[type[errors.ProviderError], str]] = {
    "401": (errors.ProviderAuthenticationError, "ProviderAuthenticationError for HTTP 401"),
    "429": (errors.ProviderRateLimitError, "ProviderRateLimitError for HTTP 429"),
    "500": (errors.ProviderError, "a ProviderError (ProviderResponseError) for HTTP 500"),
    "slow": (errors.ProviderTimeoutError, "ProviderTimeoutError past the definition's timeout"),
}
#: Errors that must not stand for a server error.
_NOT_A_SERVER_ERROR = (
    errors.ProviderAuthenticationError,
    errors.ProviderRateLimitError,
    errors.ProviderBadRequestError,
)


class ProviderContract(abc.ABC):
    """Behaviour checks for an LLM client provider.

    Set ``plugin`` (the object or module with the hook implementation) and
    ``definition`` (a dict naming the provider). The kit starts its endpoint for
    each check and sets the definition's ``base_url`` to it; set ``endpoint`` to an
    :class:`~llmreg.testing.server.Endpoint` subclass instance for an API that is
    not OpenAI's, to ``None`` for a provider that calls no endpoint, or set
    ``base_url`` to check against your own endpoint (the checks that need the
    kit's endpoint then skip). A provider that answers a prompt the same way every
    time keeps ``deterministic``; the order check then also moves the rows.
    """

    plugin: ClassVar[object]
    definition: ClassVar[dict[str, Any]]
    deterministic: ClassVar[bool] = True
    #: The API the kit's endpoint speaks; ``None``: the provider calls no endpoint.
    endpoint: ClassVar[Endpoint | None] = Endpoint()
    #: Your own endpoint instead of the kit's.
    base_url: ClassVar[str | None] = None

    @pytest.fixture
    def kit_server(self) -> Iterator[KitServer | None]:
        """The kit's endpoint for one check, or ``None`` (own URL, or no endpoint)."""
        if self.endpoint is None or self.base_url is not None:
            yield None
            return
        with KitServer(self.endpoint) as server:
            yield server

    @pytest.fixture
    def kit_endpoint(self, kit_server: KitServer | None) -> KitServer:
        """The kit's endpoint; the check skips where the kit does not run one."""
        if kit_server is None:
            pytest.skip("needs the kit's endpoint (endpoint is None or base_url is set)")
        return kit_server

    def _client(self, kit_server: KitServer | None, **extra: Any) -> Client:
        manager = isolated_manager(self.plugin)
        data = dict(self.definition)
        url = kit_server.base_url if kit_server is not None else self.base_url
        if url is not None:
            data["base_url"] = url
        definition = ModelDefinition.from_dict({**data, **extra})
        expect(
            definition.provider in manager.providers(),
            expected=f"the plugin to register the provider {definition.provider!r}",
            got=f"registers {sorted(manager.providers())}",
        )
        client = manager.client(definition)
        if not isinstance(client, Client):
            contract_failure(
                expected="the provider's factory to return a llmreg.Client",
                got=f"returned {type(client).__name__}",
            )
        return client

    def test_methods_keep_the_base_signatures(self, kit_server: KitServer | None) -> None:
        """``complete``, ``batch`` and ``abatch`` accept every call the base accepts."""
        client = self._client(kit_server)
        client.close()
        for name in ("complete", "batch", "abatch"):
            check_signature(getattr(type(client), name), getattr(Client, name), name)

    def test_complete_returns_text_and_metadata(self, kit_server: KitServer | None) -> None:
        """One request returns a ``Completion`` with text, model, latency and attempts."""
        client = self._client(kit_server)
        try:
            done = client.complete(Request(input="Say hello."))
        finally:
            client.close()
        if not isinstance(done, Completion):
            contract_failure(
                expected="complete() to return llmreg.Completion",
                got=f"returned {type(done).__name__}: {done!r}",
            )
        expect(
            isinstance(done.text, str)
            and done.model
            and done.latency_ms >= 0
            and done.attempts >= 1,
            expected="a Completion with text, model, latency_ms >= 0 and attempts >= 1",
            got=f"returned {done!r}",
        )

    def test_batch_keeps_order_and_length(self, kit_server: KitServer | None) -> None:
        """A batch answers every row, in order (by prompt tokens, or by moving the rows)."""
        client = self._client(kit_server)
        rows = [Request(input=f"Repeat: {'yes ' * (1 + 6 * i)}") for i in range(4)]
        orders = [rows, rows[1:] + rows[:1], [rows[1], rows[0], *rows[2:]]]
        try:
            runs = [client.batch(order, concurrency=3) for order in orders]
        finally:
            client.close()
        for order, results in zip(orders, runs, strict=True):
            expect(
                isinstance(results, list)
                and len(results) == len(order)
                and all(isinstance(r, Completion) for r in results),
                expected=f"batch() to answer all {len(order)} rows with Completions",
                got=f"returned {results!r}",
            )
        done = [[r for r in results if isinstance(r, Completion)] for results in runs]
        counts = [r.prompt_tokens for r in done[0]]
        if all(c is not None for c in counts):
            expect(
                counts == sorted(counts) and len(set(counts)) == len(counts),  # type: ignore[type-var]
                expected="prompt tokens rising with the rows (rows in order)",
                got=f"reported {counts}: the batch reordered them",
            )
        if self.deterministic:
            answers: dict[str, str] = {}
            for order, answered in zip(orders, done, strict=True):
                for request, result in zip(order, answered, strict=True):
                    first = answers.setdefault(request.input or "", result.text)
                    expect(
                        first == result.text,
                        expected="a prompt to keep its answer when the rows move "
                        "(or set deterministic = False)",
                        got=f"answered {result.text!r}, then {first!r}: rows reordered",
                    )

    def test_close_is_idempotent(self, kit_server: KitServer | None) -> None:
        """``close()`` can be called twice."""
        client = self._client(kit_server)
        client.close()
        client.close()

    def test_settings_reach_the_endpoint(self, kit_endpoint: KitServer) -> None:
        """The definition's temperature, max_tokens, stop and system prompt are sent; a row's
        params override them for that row."""
        settings = {
            "temperature": 0.3,
            "max_tokens": 21,
            "stop": ["\nEND"],
            "system_prompt": "Be brief.",
        }
        client = self._client(kit_endpoint, **settings)
        row = Params(temperature=0.9, max_tokens=5, stop=["X"])
        try:
            client.complete(Request(input="hello"))
            client.complete(Request(input="again", params=row))
        finally:
            client.close()
        want = {"temperature": 0.3, "max_tokens": 21, "stop": ["\nEND"], "system": "Be brief."}
        per_row = {**want, "temperature": 0.9, "max_tokens": 5, "stop": ["X"]}
        sent = [kit_endpoint.endpoint.settings(r["body"]) for r in kit_endpoint.requests]
        got = [{k: s.get(k) for k in want} for s in sent]
        expect(
            got == [want, per_row],
            expected=f"the endpoint to receive {want}, then the row's params {per_row}",
            got=f"sent {got}",
        )

    @pytest.mark.parametrize("mode", sorted(TYPED_ERRORS))
    def test_a_failing_endpoint_is_a_typed_error(self, kit_endpoint: KitServer, mode: str) -> None:
        """401, 429, 500 and a timeout each raise their typed ProviderError."""
        kit_endpoint.mode = mode
        client = self._client(kit_endpoint, timeout=0.5, max_retries=0)
        error, expected = TYPED_ERRORS[mode]
        try:
            raised = expect_raises(
                error,
                lambda: client.complete(Request(input="hi")),
                expected=expected,
                what="complete()",
            )
        finally:
            client.close()
        if mode == "500":
            expect(
                not isinstance(raised, _NOT_A_SERVER_ERROR),
                expected=expected,
                got=f"raised {type(raised).__name__}",
            )

    def test_streams_where_declared(self, kit_endpoint: KitServer) -> None:
        """A StreamingClient yields the answer in several text chunks, then one with ``done``."""
        client = self._client(kit_endpoint)
        if not isinstance(client, StreamingClient):
            client.close()
            pytest.skip("the client does not declare llmreg.capabilities.StreamingClient")

        async def collect() -> list[StreamChunk]:
            return [c async for c in client.astream(Request(input="one two three"))]

        try:
            chunks = asyncio.run(collect())
        finally:
            client.close()
        texts = [c.text for c in chunks if c.text]
        done = chunks[-1].done if chunks else None
        expect(
            len(texts) >= 2
            and done is not None
            and "".join(texts) == done.text == "echo: one two three"
            and all(c.done is None for c in chunks[:-1]),
            expected="text chunks that add up to 'echo: one two three', then one chunk with done",
            got=f"yielded {chunks!r}",
        )

    def test_close_releases_every_connection(self, kit_endpoint: KitServer) -> None:
        """After ``close()`` no connection the client opened is left open."""
        client = self._client(kit_endpoint)
        client.complete(Request(input="one"))
        client.batch([Request(input=f"row {i}") for i in range(4)], concurrency=4)
        client.close()
        left = kit_endpoint.wait_closed(timeout=5.0)
        expect(
            left == 0,
            expected="close() to close every HTTP connection the client opened",
            got=f"left {left} of {kit_endpoint.connections} open",
        )


__all__ = ["TYPED_ERRORS", "ProviderContract"]
