"""The fallback chain: tried in order after the primary's retries, the answerer named."""

from __future__ import annotations

import pytest

from llmreg import Request
from llmreg.errors import ConfigError, ProviderNotFoundError, ProviderResponseError


def test_fallback_answers_when_the_primary_fails(make_client, server, unique):
    primary, fallback = unique("fault-500"), unique("backup")
    client = make_client(primary, max_retries=1, fallbacks=[{"model": fallback}])
    done = client.complete(Request(input="hi"))
    assert done.text == "echo: hi"
    assert done.model == fallback
    assert done.metadata()["fallback_index"] == 1
    # the primary got its retries first, then the fallback answered once
    assert server.count(primary) == 2
    assert server.count(fallback) == 1
    assert done.attempts == 3


def test_fallbacks_are_tried_in_order(make_client, server, unique):
    primary, second, third = unique("fault-503"), unique("fault-404"), unique("third")
    client = make_client(primary, max_retries=0, fallbacks=[{"model": second}, {"model": third}])
    done = client.complete(Request(input="hi"))
    assert done.model == third
    assert done.extra["fallback_index"] == 2
    assert [server.count(m) for m in (primary, second, third)] == [1, 1, 1]
    first_second = [r.model for r in server.chat_requests() if r.model in (primary, second)]
    assert first_second == [primary, second]


def test_the_primary_answering_uses_no_fallback(make_client, server, unique):
    primary, fallback = unique("main"), unique("backup")
    done = make_client(primary, fallbacks=[{"model": fallback}]).complete(Request(input="x"))
    assert done.model == primary
    assert done.extra["fallback_index"] == 0
    assert server.count(fallback) == 0


def test_a_fallback_overrides_the_primary_settings(make_client, server, unique):
    primary, fallback = unique("fault-500"), unique("backup")
    client = make_client(
        primary,
        max_retries=0,
        temperature=0.1,
        fallbacks=[{"model": fallback, "temperature": 0.9, "max_retries": 0}],
    )
    client.complete(Request(input="x"))
    (sent,) = server.chat_requests(fallback)
    assert sent.body["temperature"] == 0.9


def test_every_model_failing_names_each(make_client, server, unique):
    primary, fallback = unique("fault-500"), unique("fault-404")
    client = make_client(primary, max_retries=1, fallbacks=[{"model": fallback}])
    with pytest.raises(ProviderNotFoundError) as info:
        client.complete(Request(input="x"))
    assert primary in str(info.value) and fallback in str(info.value)
    assert info.value.attempts == 3  # two to the primary, one to the fallback


def test_a_single_failing_model_keeps_its_own_error(make_client, unique):
    with pytest.raises(ProviderResponseError) as info:
        make_client(unique("fault-500"), max_retries=0).complete(Request(input="x"))
    assert "every model" not in str(info.value)


def test_a_fallback_with_another_provider_is_a_config_error(make_client, server, unique):
    primary = unique("main")
    with pytest.raises(ConfigError) as info:
        make_client(primary, fallbacks=[{"model": "b"}, {"provider": "llamacpp", "model": "gemma"}])
    message = str(info.value)
    assert "fallbacks[1]" in message and "'gemma'" in message and "'llamacpp'" in message
    assert "give it a base_url instead" in message
    assert server.count(primary) == 0


def test_a_fallback_naming_the_same_provider_is_accepted(make_client, server, unique):
    primary, fallback = unique("fault-500"), unique("backup")
    client = make_client(
        primary, max_retries=0, fallbacks=[{"provider": "openai", "model": fallback}]
    )
    assert client.complete(Request(input="hi")).model == fallback
