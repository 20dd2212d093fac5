"""Single calls against a real HTTP server: text, messages, metadata, settings sent."""

from __future__ import annotations

from llmreg import Request
from llmreg.schemas import Message, Params


def test_text_input_is_answered(make_client, server, unique):
    model = unique("text")
    done = make_client(model).complete(Request(input="hello there world"))
    assert done.text == "echo: hello there world"
    assert server.count(model) == 1


def test_messages_are_sent_as_chat(make_client, server, unique):
    model = unique("chat")
    messages = [
        Message(role="system", content="be brief"),
        Message(role="user", content="first"),
        Message(role="assistant", content="ok"),
        Message(role="user", content="second question"),
    ]
    done = make_client(model).complete(Request(messages=messages))
    assert done.text == "echo: second question"
    (sent,) = server.chat_requests(model)
    assert sent.body["messages"] == [m.model_dump() for m in messages]


def test_metadata_names_model_latency_tokens_finish_and_attempts(make_client, unique):
    model = unique("meta")
    done = make_client(model).complete(Request(input="one two three"))
    assert done.model == model
    assert done.latency_ms > 0
    # the server counts words: prompt "one two three", completion "echo: one two three"
    assert (done.prompt_tokens, done.completion_tokens, done.total_tokens) == (3, 4, 7)
    assert done.finish_reason == "stop"
    assert done.attempts == 1
    meta = done.metadata()
    assert meta["usage"]["total_tokens"] == 7
    assert meta["fallback_index"] == 0


def test_definition_settings_are_sent(make_client, server, unique):
    model = unique("settings")
    client = make_client(
        model,
        system_prompt="You are terse.",
        temperature=0.7,
        max_tokens=50,
        stop=["END"],
        extra_headers={"X-Team": "search"},
    )
    client.complete(Request(input="hi"))
    (sent,) = server.chat_requests(model)
    assert sent.body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent.body["temperature"] == 0.7
    assert sent.body["max_tokens"] == 50
    assert sent.body["stop"] == ["END"]
    assert sent.headers["x-team"] == "search"


def test_row_params_override_the_definition(make_client, server, unique):
    model = unique("params")
    client = make_client(model, temperature=0.0, max_tokens=50)
    params = Params(temperature=1.5, max_tokens=2, top_p=0.5, seed=7, stop=["x"])
    done = client.complete(Request(input="a b c d e", params=params))
    (sent,) = server.chat_requests(model)
    assert {k: sent.body[k] for k in ("temperature", "max_tokens", "top_p", "seed", "stop")} == {
        "temperature": 1.5,
        "max_tokens": 2,
        "top_p": 0.5,
        "seed": 7,
        "stop": ["x"],
    }
    # the server honours max_tokens: two words, cut for length
    assert done.text == "echo: a"
    assert done.finish_reason == "length"


def test_unset_settings_are_not_sent(make_client, server, unique):
    model = unique("unset")
    make_client(model, temperature=None).complete(Request(input="hi"))
    (sent,) = server.chat_requests(model)
    assert not {"temperature", "max_tokens", "stop", "top_p", "seed"} & set(sent.body)


def test_extra_body_is_merged_into_every_request(make_client, server, unique):
    model = unique("extra")
    client = make_client(model, extra_body={"cache_prompt": False})
    client.batch([Request(input="a"), Request(input="b")])
    bodies = [r.body for r in server.chat_requests(model)]
    assert len(bodies) == 2
    assert all(b["cache_prompt"] is False for b in bodies)


def test_the_key_is_sent_as_bearer(make_client, server, unique, monkeypatch):
    model = unique("auth")
    monkeypatch.setenv("LLMREG_TEST_KEY", "sk-test-sent")
    make_client(model, api_key="env:LLMREG_TEST_KEY").complete(Request(input="hi"))
    (sent,) = server.chat_requests(model)
    assert sent.authorization == "Bearer sk-test-sent"


def test_no_key_sends_a_placeholder(make_client, server, unique, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = unique("nokey")
    make_client(model).complete(Request(input="hi"))
    (sent,) = server.chat_requests(model)
    assert sent.authorization == "Bearer not-needed"


def test_one_connection_pool_is_reused(make_client, server, unique):
    model = unique("reuse")
    client = make_client(model)
    client.complete(Request(input="a"))
    pool = client._chain[0].sdk()
    client.batch([Request(input="b"), Request(input="c")])
    assert client._chain[0].sdk() is pool
    assert server.count(model) == 3


def test_openai_env_variables_are_not_read_implicitly(server, unique, monkeypatch):
    from llmreg import ModelDefinition
    from llmreg_litellm.client import OpenAICompatibleClient

    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    client = OpenAICompatibleClient(ModelDefinition(model=unique("implicit")))
    try:
        sdk = client._chain[0].sdk()  # built, never called: no hosted endpoint is contacted
        assert str(sdk.base_url).startswith("https://api.openai.com/v1")
        assert sdk.api_key == "not-needed"
    finally:
        client.close()
