"""The lean HTTP path (llmreg_litellm._http): what it sends, retries and raises, against the
real fake server, compared with the openai SDK's own path where the SDK decides."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from llmreg import Request
from llmreg.errors import (
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnreachableError,
)
from llmreg_litellm._http import lean_ok, retry_after, retry_delay, should_retry
from support.openai_server import FakeOpenAIServer

ROW = Request(input="hi")


def test_plain_endpoints_take_the_lean_path(make_client, server, unique):
    client = make_client(unique("lean"))
    assert client._chain[0].poster() is not None
    assert client.complete(ROW).text == "echo: hi"


def test_the_lean_path_sends_the_sdks_headers(make_client, server, unique, monkeypatch):
    monkeypatch.setenv("LLMREG_TEST_LEAN_KEY", "sk-lean-sent")
    model = unique("lean-headers")
    client = make_client(model, api_key="env:LLMREG_TEST_LEAN_KEY", extra_headers={"X-Team": "a"})
    client.complete(ROW)
    (sent,) = server.chat_requests(model)
    sdk = client._chain[0].sdk()
    assert sent.authorization == "Bearer sk-lean-sent"
    assert sent.headers["x-team"] == "a"
    assert sent.headers["user-agent"] == sdk.default_headers["User-Agent"]
    assert sent.headers["x-stainless-lang"] == "python"
    assert sent.headers["content-type"] == "application/json"


def test_retries_send_the_retry_count_header(make_client, server, unique):
    model = unique("flaky-1-503")
    assert make_client(model, max_retries=2).complete(ROW).attempts == 2
    first, second = server.chat_requests(model)
    assert "x-stainless-retry-count" not in first.headers
    assert second.headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize(
    ("url", "headers", "ok"),
    [
        ("http://127.0.0.1:1/v1", {"Authorization": "Bearer k"}, True),
        ("https://api.example.com/v1", {"Authorization": "Bearer k"}, True),
        ("http://user:pw@127.0.0.1:1/v1", {}, False),
        ("http://127.0.0.1:1/v1?api-version=1", {}, False),
        ("http://127.0.0.1:1/v1", {"Authorization": "Bearer k\n"}, False),
        ("http://127.0.0.1:1/v1", {"Authorization": "Bearer clé"}, False),
    ],
)
def test_what_keeps_the_sdks_path(url, headers, ok, monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert lean_ok(url, headers) is ok


def test_a_proxy_in_the_environment_keeps_the_sdks_path(make_client, server, unique, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = make_client(unique("proxied"))
    assert client._chain[0].poster() is None


def test_retry_after_is_read_as_the_sdk_reads_it():
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({}) is None
    assert retry_delay(0, {"retry-after": "1.5"}) == 1.5
    assert 0.375 <= retry_delay(0) <= 0.5
    assert 6.0 <= retry_delay(10) <= 8.0
    assert not should_retry(429, {"retry-after": "120"})  # longer than the SDK waits
    assert should_retry(400, {"x-should-retry": "true"})
    assert not should_retry(503, {"x-should-retry": "false"})
    assert [should_retry(s, {}) for s in (400, 404, 408, 409, 429, 500, 503)] == [
        False, False, True, True, True, True, True,
    ]  # fmt: skip


def test_a_dropped_connection_is_not_called_a_timeout(make_client, server, unique):
    model = unique("fault-drop")
    with pytest.raises(ProviderUnreachableError) as info:
        make_client(model, max_retries=0).complete(ROW)
    assert "timeout" not in str(info.value).lower()
    assert "dropped the connection" in str(info.value)


def test_a_hang_is_a_timeout_within_the_definitions_timeout(make_client, server, unique):
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        make_client(unique("fault-hang"), timeout=0.3, max_retries=1).complete(ROW)
    assert time.monotonic() - started < 5  # two reads of 0.3 s and a backoff below 1 s


def test_a_refused_connection_is_unreachable_naming_the_cause(make_client, unique):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(unique("m"), base_url=f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(ProviderUnreachableError) as info:
        client.complete(ROW)
    assert info.value.attempts == 2
    assert "timeout" not in str(info.value).lower()


def test_429_waits_what_retry_after_ms_asks(definition, unique):
    from llmreg_litellm.client import OpenAICompatibleClient

    with FakeOpenAIServer(retry_after_ms=300) as slow:
        client = OpenAICompatibleClient(
            definition(unique("fault-429"), base_url=slow.base_url, max_retries=1)
        )
        try:
            started = time.monotonic()
            with pytest.raises(ProviderRateLimitError) as info:
                client.complete(ROW)
            waited = time.monotonic() - started
        finally:
            client.close()
    assert info.value.attempts == 2
    assert 0.3 <= waited < 3


def test_a_non_json_answer_is_a_response_error(make_client, unique):
    with pytest.raises(ProviderResponseError) as info:
        make_client(unique("fault-html")).complete(ROW)
    assert "choices" in str(info.value)


def test_each_loop_gets_its_own_session_closed_with_the_loop(make_client, server, unique):
    client = make_client(unique("loops"))

    async def one() -> object:
        (done,) = await client.abatch([ROW])
        assert done.text == "echo: hi"
        poster = client._loop_pools[asyncio.get_running_loop()].chain[0].poster()
        assert poster is not None and poster._session is not None
        return poster

    first = asyncio.run(one())
    second = asyncio.run(one())
    assert first is not second
    assert first._session is None  # closed when its loop ended


def test_a_client_dropped_without_close_logs_no_unclosed_session(server, unique):
    import subprocess
    import sys

    # in a fresh process: the loop thread's loop and the session are gone at exit too
    code = (
        "import gc, logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "from llmreg import ModelDefinition, Request\n"
        "from llmreg_litellm.client import OpenAICompatibleClient\n"
        f"d = ModelDefinition(model={unique('drop')!r}, base_url={server.base_url!r})\n"
        "c = OpenAICompatibleClient(d)\n"
        "assert c.complete(Request(input='hi')).text == 'echo: hi'\n"
        "del c\n"
        "gc.collect()\n"
        "c = OpenAICompatibleClient(d)\n"
        "c.complete(Request(input='hi'))\n"  # and one left for the exit
    )
    done = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", code],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Unclosed" not in done.stderr, done.stderr
