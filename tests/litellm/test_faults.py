"""Each fault of the real fake server ends in the typed error, with retries counted."""

from __future__ import annotations

import pytest

from llmreg import Request
from llmreg.errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnreachableError,
)

ROW = Request(input="hi")


def _fails(client) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        client.complete(ROW)
    return info.value


def _names_model_and_endpoint(error: ProviderError, model: str, server) -> None:
    assert model in str(error)
    assert server.base_url in str(error)


def test_500_is_retried_then_a_response_error(make_client, server, unique):
    model = unique("fault-500")
    error = _fails(make_client(model, max_retries=2))
    assert type(error) is ProviderResponseError
    assert error.status_code == 500
    assert error.attempts == 3 == server.count(model)
    _names_model_and_endpoint(error, model, server)


def test_429_with_retry_after_is_retried_then_a_rate_limit_error(make_client, server, unique):
    model = unique("fault-429")
    error = _fails(make_client(model, max_retries=3))
    assert type(error) is ProviderRateLimitError
    assert error.status_code == 429
    assert error.attempts == 4 == server.count(model)
    assert "concurrency" in str(error)


def test_401_is_never_retried(make_client, server, unique):
    model = unique("fault-401")
    error = _fails(make_client(model, max_retries=5))
    assert type(error) is ProviderAuthenticationError
    assert error.status_code == 401
    assert error.attempts == 1 == server.count(model)
    assert "api_key" in str(error)


def test_403_is_an_authentication_error(make_client, server, unique):
    model = unique("fault-403")
    error = _fails(make_client(model))
    assert type(error) is ProviderAuthenticationError
    assert server.count(model) == 1


@pytest.mark.parametrize("code", ["400", "422"])
def test_bad_request_is_not_retried(make_client, server, unique, code):
    model = unique(f"fault-{code}")
    error = _fails(make_client(model))
    assert type(error) is ProviderBadRequestError
    assert error.status_code == int(code)
    assert server.count(model) == 1


@pytest.mark.parametrize(
    ("kind", "text"),
    [("errortext", "error as text"), ("errornested", "nested error text")],
)
def test_an_error_body_whose_error_is_a_string(make_client, server, unique, kind, text):
    model = unique(f"fault-{kind}")
    error = _fails(make_client(model))
    assert type(error) is ProviderBadRequestError
    assert error.status_code == 400
    assert text in str(error)
    _names_model_and_endpoint(error, model, server)


def test_404_is_a_not_found_error(make_client, server, unique):
    model = unique("fault-404")
    error = _fails(make_client(model))
    assert type(error) is ProviderNotFoundError
    assert error.status_code == 404
    assert server.count(model) == 1
    _names_model_and_endpoint(error, model, server)
    assert "base_url" in str(error)


def test_malformed_json_is_a_response_error(make_client, server, unique):
    model = unique("fault-malformed")
    error = _fails(make_client(model))
    assert type(error) is ProviderResponseError
    assert "not a valid chat completion" in str(error)
    _names_model_and_endpoint(error, model, server)


@pytest.mark.parametrize("kind", ["shape", "html"])
def test_a_body_that_is_no_completion_is_a_response_error(make_client, server, unique, kind):
    model = unique(f"fault-{kind}")
    error = _fails(make_client(model))
    assert type(error) is ProviderResponseError
    assert "not a valid chat completion" in str(error)
    assert "'choices'" in str(error)
    assert server.count(model) == 1


def test_empty_choices_is_a_response_error(make_client, server, unique):
    model = unique("fault-empty")
    error = _fails(make_client(model))
    assert type(error) is ProviderResponseError
    assert "no choices" in str(error)


def test_dropped_connection_is_retried_then_unreachable(make_client, server, unique):
    model = unique("fault-drop")
    error = _fails(make_client(model, max_retries=1))
    assert type(error) is ProviderUnreachableError
    assert error.attempts == 2 == server.count(model)
    _names_model_and_endpoint(error, model, server)


def test_hang_is_a_timeout_error(make_client, server, unique):
    model = unique("fault-hang")
    error = _fails(make_client(model, timeout=0.3, max_retries=0))
    assert type(error) is ProviderTimeoutError
    assert error.attempts == 1 == server.count(model)
    assert "0.3 s" in str(error)


def test_nothing_listening_is_unreachable(make_client, unique):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(unique("m"), base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    error = _fails(client)
    assert type(error) is ProviderUnreachableError
    assert str(port) in str(error)


def test_flaky_then_succeeds_counts_two_attempts(make_client, server, unique):
    model = unique("flaky-1-503")
    done = make_client(model, max_retries=2).complete(ROW)
    assert done.text == "echo: hi"
    assert done.attempts == 2 == server.count(model)


def test_flaky_429_then_succeeds(make_client, server, unique):
    model = unique("flaky-2-429")
    done = make_client(model, max_retries=2).complete(ROW)
    assert done.attempts == 3 == server.count(model)


def test_a_failed_row_keeps_the_others(make_client, server, unique):
    model = unique("m")
    rows = [Request(input="a"), Request(input="[fault 400] b"), Request(input="c")]
    results = make_client(model, max_retries=0).batch(rows)
    assert [type(r).__name__ for r in results] == [
        "Completion",
        "ProviderBadRequestError",
        "Completion",
    ]
    assert [results[0].text, results[2].text] == ["echo: a", "echo: c"]
    assert server.count(model) == 3


def test_an_endpoint_that_comes_back_is_used_again(definition, unique):
    from llmreg_litellm.client import OpenAICompatibleClient
    from support.openai_server import FakeOpenAIServer

    model = unique("m")
    with FakeOpenAIServer() as own:
        client = OpenAICompatibleClient(definition(model, base_url=own.base_url, max_retries=0))
        try:
            assert client.complete(ROW).text == "echo: hi"
            own.stop()
            assert type(client.batch([ROW])[0]) is ProviderUnreachableError
            own.start()
            assert client.complete(ROW).text == "echo: hi"
        finally:
            client.close()
