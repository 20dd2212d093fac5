"""The OpenAI-compatible routes, called with the official ``openai`` client over real HTTP."""

from __future__ import annotations

import openai
import pytest

URI = "models:/chat@champion"


@pytest.fixture
def client(served):
    with openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_chat_completion(client):
    answer = client.chat.completions.create(
        model=URI,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there"},
        ],
    )
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.id.startswith("chatcmpl-") and answer.created > 0
    assert answer.model == URI
    assert answer.usage.prompt_tokens == 2
    assert answer.usage.completion_tokens == 3
    assert answer.usage.total_tokens == 5


def test_model_may_be_the_registered_name(client):
    answer = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "by name"}]
    )
    assert answer.choices[0].message.content == "echo: by name"


def test_params_and_text_parts_are_accepted(client):
    answer = client.chat.completions.create(
        model=URI,
        messages=[{"role": "user", "content": [{"type": "text", "text": "parts"}]}],
        temperature=0.5,
        max_tokens=10,
        stop="\n",
        seed=1,
    )
    assert answer.choices[0].message.content == "echo: parts"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="other", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["code"] == "model_not_found"
    assert URI in caught.value.body["message"]


def test_streaming(client):
    stream = client.chat.completions.create(
        model=URI,
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 5


def test_streaming_without_usage(client):
    chunks = list(
        client.chat.completions.create(
            model=URI, messages=[{"role": "user", "content": "a"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: a"


def test_a_request_the_upstream_refused_is_400_with_the_typed_error(client):
    # the echo provider refuses "!fail" as a bad request: the client's own mistake, a 4xx
    # that the SDK raises at once instead of retrying
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=URI, messages=[{"role": "user", "content": "!fail"}])
    assert caught.value.status_code == 400
    assert caught.value.body["type"] == "ProviderBadRequestError"
    assert caught.value.body["code"] == "upstream_bad_request"
    assert caught.value.body["message"] == "echo provider was asked to fail"


def test_an_upstream_refusal_while_streaming_is_an_error_not_a_stream(client):
    with pytest.raises(openai.BadRequestError) as caught:
        list(
            client.chat.completions.create(
                model=URI, messages=[{"role": "user", "content": "!fail"}], stream=True
            )
        )
    assert caught.value.status_code == 400


def test_models_list(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [URI]
    assert models.data[0].owned_by == "llmreg"


def test_missing_role_is_a_bad_request(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=URI, messages=[{"content": "no role"}])
    assert caught.value.body["param"] == "messages[0].role"
