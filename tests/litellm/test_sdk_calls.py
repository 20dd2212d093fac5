"""The ``litellm`` provider (LiteLLM's SDK in-process), offline.

Against LiteLLM's ``mock_response`` and a real local server speaking the Anthropic
Messages API (``support.anthropic_server``) that LiteLLM's ``anthropic/`` route is
pointed at with ``api_base``; a cross-provider fallback uses the fake OpenAI server.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("litellm.exceptions")  # not tests/litellm, a namespace package

from llmreg import ModelDefinition
from llmreg.errors import (
    ConfigError,
    PredictionError,
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnreachableError,
    SecretResolutionError,
)
from llmreg.manager import create_plugin_manager
from llmreg.schemas import Request
from llmreg_litellm.sdk import LiteLLMClient
from support.anthropic_server import FakeAnthropicServer
from support.openai_server import FakeOpenAIServer

KEY = "sk-ant-test-" + "s3cr3t" * 4


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropicServer]:
    """The fake Anthropic server, shared by this module."""
    with FakeAnthropicServer() as srv:
        yield srv


@pytest.fixture
def make(
    anthropic: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., LiteLLMClient]]:
    """Build ``litellm`` clients for ``anthropic/<model>`` at the fake server; closed after."""
    monkeypatch.setenv("LLMREG_TEST_ANTHROPIC_KEY", KEY)
    clients: list[LiteLLMClient] = []

    def build(model: str, **fields: Any) -> LiteLLMClient:
        values: dict[str, Any] = {
            "provider": "litellm",
            "model": f"anthropic/{model}",
            "base_url": anthropic.url,
            "api_key": "env:LLMREG_TEST_ANTHROPIC_KEY",
            "timeout": 5.0,
            "max_retries": 2,
            "max_tokens": 64,
        }
        values.update(fields)
        client = LiteLLMClient(ModelDefinition.model_validate(values))
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def unique(prefix: str) -> str:
    """A model name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_the_manager_builds_a_litellm_client_from_the_plugin(anthropic, monkeypatch) -> None:
    """``provider: litellm`` is known to the default plugins and builds a LiteLLMClient."""
    monkeypatch.setenv("LLMREG_TEST_ANTHROPIC_KEY", KEY)
    manager = create_plugin_manager()
    client = manager.client(
        {
            "provider": "litellm",
            "model": "anthropic/m",
            "base_url": anthropic.url,
            "api_key": "env:LLMREG_TEST_ANTHROPIC_KEY",
        }
    )
    try:
        assert isinstance(client, LiteLLMClient)
        assert client.complete(Request(input="hi")).text == "echo: hi"
    finally:
        client.close()


def test_mock_response_answers_with_usage() -> None:
    """LiteLLM's ``mock_response`` (an option) answers without any network."""
    client = LiteLLMClient(
        ModelDefinition(
            provider="litellm",
            model="openai/gpt-4o-mini",
            options={"mock_response": "mocked answer"},
        )
    )
    try:
        done = client.complete(Request(input="x"))
    finally:
        client.close()
    assert done.text == "mocked answer"
    assert done.model == "openai/gpt-4o-mini"
    assert done.total_tokens is not None and done.total_tokens > 0
    assert done.attempts == 1
    assert done.metadata()["fallback_index"] == 0


def test_anthropic_route_sends_the_key_system_prompt_and_settings(make, anthropic) -> None:
    """The Messages API request carries the key, the system prompt and max_tokens; the
    answer's text, usage and finish reason come back."""
    model = unique("ok")
    client = make(model, system_prompt="Be brief.", max_tokens=50)
    done = client.complete(Request(input="hello there"))
    assert done.text == "echo: hello there"
    assert (done.prompt_tokens, done.completion_tokens, done.total_tokens) == (4, 3, 7)
    assert done.finish_reason == "stop"
    sent = [r for r in anthropic.requests if r.model == model]
    assert len(sent) == 1
    assert sent[0].headers.get("x-api-key") == KEY
    assert sent[0].body["system"][0]["text"] == "Be brief."
    assert sent[0].body["max_tokens"] == 50


def test_row_params_override_the_definition(make, anthropic) -> None:
    """A row's max_tokens wins; a cut answer reports finish_reason 'length'."""
    done = make(unique("ok")).complete(
        Request(input="one two three four", params={"max_tokens": 2})
    )
    assert done.text == "echo: one"
    assert done.finish_reason == "length"


def test_batch_is_bounded_and_keeps_order(make, anthropic) -> None:
    """At most ``concurrency`` rows run at once (measured by time), in order."""
    client = make(f"slow-150-{unique('ok')}")
    rows = [Request(input=f"row {i}") for i in range(6)]
    import time

    start = time.perf_counter()
    results = client.batch(rows, concurrency=3)
    elapsed = time.perf_counter() - start
    assert [getattr(r, "text", r) for r in results] == [f"echo: row {i}" for i in range(6)]
    assert 0.29 < elapsed < 2.0  # two waves of 150 ms, not one (unbounded) nor six


def test_abatch_from_a_running_loop(make) -> None:
    """``abatch`` works from the caller's own event loop, twice, and keeps order."""
    client = make(unique("ok"))

    async def main() -> list[Any]:
        first = await client.abatch([Request(input="a"), Request(input="b")])
        second = await client.abatch([Request(input="c")], concurrency=1)
        return first + second

    assert [r.text for r in asyncio.run(main())] == ["echo: a", "echo: b", "echo: c"]


def test_a_failed_row_stays_in_place(make) -> None:
    """One failing model in a batch does not lose the other rows."""
    ok = make(unique("ok"))
    bad = make("fault-404")
    assert isinstance(bad.batch([Request(input="x")])[0], ProviderNotFoundError)
    results = ok.batch([Request(input="a"), Request(input="b")])
    assert [r.text for r in results] == ["echo: a", "echo: b"]


@pytest.mark.parametrize(
    ("fault", "error", "attempts"),
    [
        ("fault-401", ProviderAuthenticationError, 1),
        ("fault-403", ProviderAuthenticationError, 1),
        ("fault-404", ProviderNotFoundError, 1),
        ("fault-400", ProviderBadRequestError, 1),
        ("fault-429", ProviderRateLimitError, 3),
        ("fault-500", ProviderResponseError, 3),
        ("fault-529", ProviderResponseError, 3),
        ("fault-malformed", ProviderResponseError, 3),
    ],
)
def test_litellm_exceptions_become_typed_errors(make, anthropic, fault, error, attempts) -> None:
    """Each of LiteLLM's exception classes maps to llmreg's type; only 429/5xx retry."""
    model = f"{fault}-{uuid.uuid4().hex[:6]}"
    with pytest.raises(error) as caught:
        make(model).complete(Request(input="x"))
    assert type(caught.value) is error
    assert caught.value.attempts == attempts
    assert anthropic.count(model) == attempts
    assert "LiteLLM" in str(caught.value) and "Provider List" not in str(caught.value)


def test_the_key_never_shows_in_an_error(make) -> None:
    """The server quotes the key it got (as Anthropic does); the error masks it."""
    with pytest.raises(ProviderAuthenticationError) as caught:
        make("fault-401").complete(Request(input="x"))
    assert KEY not in str(caught.value)
    assert KEY not in repr(make("ok"))


def test_timeout_and_unreachable(make) -> None:
    """A hanging server is a ProviderTimeoutError; a closed port ProviderUnreachableError."""
    with pytest.raises(ProviderTimeoutError):
        make("fault-hang", timeout=0.3, max_retries=0).complete(Request(input="x"))
    with pytest.raises(ProviderUnreachableError):
        make("ok", base_url="http://127.0.0.1:9", max_retries=0).complete(Request(input="x"))


def test_retry_then_success_counts_attempts(make, anthropic) -> None:
    """Two 529 answers then success: one Completion with attempts == 3."""
    model = f"flaky-2-529-{unique('ok')}"
    done = make(model).complete(Request(input="x"))
    assert done.text == "echo: x"
    assert done.attempts == 3


def test_fallback_to_another_litellm_route(make, anthropic) -> None:
    """The primary fails (500, retried), the fallback answers: fallback_index 1."""
    good = unique("ok")
    done = make("fault-500", max_retries=0, fallbacks=[{"model": f"anthropic/{good}"}]).complete(
        Request(input="x")
    )
    assert done.text == "echo: x"
    assert done.extra["fallback_index"] == 1
    assert done.attempts == 2
    assert anthropic.count(good) == 1


def test_fallback_across_providers_to_an_openai_endpoint(make) -> None:
    """An Anthropic primary falls back to an OpenAI-compatible endpoint (provider openai)."""
    with FakeOpenAIServer(latency=0.0) as openai_srv:
        client = make(
            "fault-529",
            max_retries=0,
            fallbacks=[
                {
                    "provider": "openai",
                    "model": "gpt-fake",
                    "base_url": openai_srv.base_url,
                    "api_key": "env:LLMREG_TEST_ANTHROPIC_KEY",
                }
            ],
        )
        done = client.complete(Request(input="hello"))
        assert done.text == "echo: hello"
        assert done.extra["fallback_index"] == 1
        assert openai_srv.count(model="gpt-fake") == 1


def test_every_model_failing_names_each(make) -> None:
    """When the whole chain fails, the error is the last one's type and names every step."""
    with pytest.raises(ProviderNotFoundError) as caught:
        make("fault-500", max_retries=0, fallbacks=[{"model": "anthropic/fault-404"}]).complete(
            Request(input="x")
        )
    assert "every model of the chain failed" in str(caught.value)
    assert caught.value.attempts == 2


def test_bad_definitions_fail_when_built(monkeypatch) -> None:
    """Reserved options, an unsupported fallback provider and an unset key fail the build."""
    with pytest.raises(ConfigError, match="set by the litellm provider"):
        LiteLLMClient(ModelDefinition(provider="litellm", model="m", options={"api_base": "x"}))
    with pytest.raises(ConfigError, match="not supported after a litellm model"):
        LiteLLMClient(
            ModelDefinition(
                provider="litellm", model="m", fallbacks=[{"provider": "llamacpp", "model": "x"}]
            )
        )
    monkeypatch.delenv("LLMREG_TEST_UNSET_KEY", raising=False)
    with pytest.raises(SecretResolutionError):
        LiteLLMClient(
            ModelDefinition(provider="litellm", model="m", api_key="env:LLMREG_TEST_UNSET_KEY")
        )


def test_closed_client_refuses_calls(make) -> None:
    """After close, a call is a PredictionError; close is safe twice."""
    client = make(unique("ok"))
    client.close()
    client.close()
    with pytest.raises(PredictionError, match="closed"):
        client.complete(Request(input="x"))


def test_plugin_import_does_not_import_litellm() -> None:
    """Loading the plugins (as every CLI start does) imports neither litellm nor sdk.py."""
    code = (
        "import sys; from llmreg.manager import create_plugin_manager; "
        "m = create_plugin_manager(); m.providers(); "
        "print('litellm' in sys.modules, 'llmreg_litellm.sdk' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- streaming (astream) ----------------------------------------------------------------


def collect(client: LiteLLMClient, text: str, *, leave_after: int | None = None) -> list[Any]:
    """Stream ``text`` from a fresh event loop; return the chunks (the texts, then the
    ``done`` Completion) or, where it raised, the error last."""

    async def run() -> list[Any]:
        out: list[Any] = []
        stream = client.astream(Request(input=text))
        try:
            async for chunk in stream:
                out.append(chunk.done if chunk.done is not None else chunk.text)
                if leave_after is not None and len(out) == leave_after:
                    break
        except Exception as exc:
            out.append(exc)
        finally:
            await stream.aclose()
        return out

    return asyncio.run(run())


def test_astream_yields_the_text_as_it_arrives_then_the_whole_answer(make, anthropic) -> None:
    """Against the Anthropic route: one chunk a word, then the done Completion with usage
    and finish reason; the request asked for a stream."""
    model = unique("ok")
    out = collect(make(model), "hello big world")
    assert out[:-1] == ["echo:", " hello", " big", " world"]
    done = out[-1]
    assert done.text == "echo: hello big world"
    assert (done.prompt_tokens, done.completion_tokens, done.total_tokens) == (3, 4, 7)
    assert done.finish_reason == "stop" and done.attempts == 1
    assert done.extra["fallback_index"] == 0
    sent = next(r for r in anthropic.requests if r.model == model)
    assert sent.body["stream"] is True and sent.headers.get("x-api-key") == KEY


def test_astream_with_mock_response() -> None:
    """LiteLLM's mock_response streams too (no network): pieces, then usage."""
    client = LiteLLMClient(
        ModelDefinition(
            provider="litellm", model="openai/gpt-4o-mini", options={"mock_response": "a b c"}
        )
    )
    try:
        out = collect(client, "x")
    finally:
        client.close()
    assert "".join(out[:-1]) == "a b c" and len(out) > 2
    assert out[-1].text == "a b c" and out[-1].total_tokens


def test_astream_retries_and_falls_back_before_the_first_text(make, anthropic) -> None:
    """429s are retried and a failing model is skipped, before any text was sent."""
    flaky = f"flaky-1-429-{unique('ok')}"
    out = collect(make(flaky), "x")
    assert out[-1].text == "echo: x" and out[-1].attempts == 2
    good = unique("ok")
    out = collect(make("fault-500", max_retries=0, fallbacks=[{"model": f"anthropic/{good}"}]), "y")
    assert out[:-1] == ["echo:", " y"]
    assert out[-1].extra["fallback_index"] == 1 and out[-1].attempts == 2
    assert out[-1].model == f"anthropic/{good}"


def test_astream_breaking_mid_stream_is_a_typed_error_without_the_key(make, anthropic) -> None:
    """A stream cut after two words: the two texts, then ProviderUnreachableError (no
    retry, no fallback once text was sent); a 401 before any text masks the key."""
    good = unique("ok")
    model = f"cut-2-{unique('ok')}"
    out = collect(make(model, fallbacks=[{"model": f"anthropic/{good}"}]), "one two three")
    assert out[:2] == ["echo:", " one"]
    assert isinstance(out[2], ProviderUnreachableError) and len(out) == 3
    assert anthropic.count(model) == 1 and anthropic.count(good) == 0
    out = collect(make("fault-401"), "x")
    assert isinstance(out[-1], ProviderAuthenticationError) and len(out) == 1
    assert KEY not in str(out[-1])


def test_astream_left_early_and_after_close(make) -> None:
    """Leaving the loop early ends cleanly; a closed client refuses to stream."""
    client = make(unique("ok"))
    assert collect(client, "a b c d", leave_after=1) == ["echo:"]
    assert collect(client, "again")[-1].text == "echo: again"  # still usable
    client.close()
    out = collect(client, "x")
    assert isinstance(out[-1], PredictionError) and "closed" in str(out[-1])
