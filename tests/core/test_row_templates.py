"""The core's row loop (ClientAdapter) applies the whole definition: the system prompt,
the prompt template and the user template, filled from each row's vars, reach the
provider's request (issue 21, item 4). The echo provider, and a provider that records
the messages it was asked to send."""

from __future__ import annotations

from typing import Any

import pytest

from llmreg.adapter import ClientAdapter
from llmreg.client import Client, Completion
from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, SchemaError
from llmreg.hookspecs import hookimpl
from llmreg.schemas import Request
from llmreg.testing import echo_plugin, isolated_manager


class Recording(Client):
    """Answers "ok" and keeps the chat messages of every request, as a provider sends them."""

    sent: list[list[dict[str, str]]] = []

    def complete(self, request: Request) -> Completion:
        self.sent.append(request.chat_messages(self.definition.system_prompt))
        return Completion(text="ok", model=self.definition.model, latency_ms=0.0)


class RecordingPlugin:
    @hookimpl
    def llmreg_register_providers(self, register: Any) -> None:
        register("recording", Recording)


@pytest.fixture
def manager() -> Any:
    Recording.sent = []
    return isolated_manager(echo_plugin, RecordingPlugin())


def _adapter(manager: Any, **fields: Any) -> ClientAdapter:
    definition = ModelDefinition(provider="recording", model="m", **fields)
    return ClientAdapter.build(definition, {}, manager=manager)


def test_templates_and_vars_reach_the_provider(manager: Any) -> None:
    adapter = _adapter(
        manager, prompt="Answer in {language}.", user_template="{customer} asks: {input}"
    )
    rows = [
        {"input": "hi", "vars": {"language": "French", "customer": "Ann"}},
        {"messages": [{"role": "user", "content": "chat"}], "vars": {"language": "Welsh"}},
    ]
    assert adapter.predict(rows).predictions == ["ok", "ok"]
    # what a path that sends its own messages (the gateway's pass-through) prepends
    assert adapter.templates.render_system({"language": "Welsh"}) == "Answer in Welsh."
    assert Recording.sent == [
        [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Ann asks: hi"},
        ],
        [{"role": "system", "content": "Answer in Welsh."}, {"role": "user", "content": "chat"}],
    ]


def test_a_plain_system_prompt_reaches_the_provider_once(manager: Any) -> None:
    adapter = _adapter(manager, system_prompt="Be brief.")
    adapter.predict(["hi"])
    assert Recording.sent == [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    ]


def test_the_echo_provider_answers_the_rendered_user_template(manager: Any) -> None:
    definition = ModelDefinition(provider="echo", model="e", user_template="Q: {input} ({tone})")
    adapter = ClientAdapter.build(definition, {}, manager=manager)
    out = adapter.predict([{"input": "hi", "vars": {"tone": "curt"}}])
    assert out.predictions == ["echo: Q: hi (curt)"]


def test_a_row_that_leaves_a_variable_unfilled_fails_before_any_request(manager: Any) -> None:
    adapter = _adapter(manager, prompt="Answer in {language}.")
    with pytest.raises(SchemaError, match=r"row 1: .*language"):
        adapter.predict([{"input": "a", "vars": {"language": "Welsh"}}, {"input": "b"}])
    assert Recording.sent == []


def test_a_registry_prompt_needs_a_loader_that_reads_the_registry(manager: Any) -> None:
    adapter = _adapter(manager, prompt="prompts:/support/3")
    with pytest.raises(ConfigError, match=r"prompts:/support/3.*Prompt Registry"):
        adapter.predict(["hi"])
    assert Recording.sent == []

    class Resolving(ClientAdapter):
        def resolve_prompt(self, reference: str) -> str:
            return f"From {reference}: help with {{product}}."

    definition = ModelDefinition(provider="recording", model="m", prompt="prompts:/support/3")
    resolving = Resolving.build(definition, {}, manager=manager)
    resolving.predict([{"input": "q", "vars": {"product": "bikes"}}])
    assert Recording.sent[0][0] == {
        "role": "system",
        "content": "From prompts:/support/3: help with bikes.",
    }
