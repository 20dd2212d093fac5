"""Prompt templates and MLflow's Prompt Registry (llmreg_pyfunc.prompts), on a real sqlite store."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from click.testing import CliRunner

from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, SchemaError
from llmreg.templates import Templates
from llmreg_pyfunc import CustomLoader, CustomSaver
from llmreg_pyfunc.prompts import from_mustache
from llmreg_pyfunc.tracing import TracedAdapter


def _inline() -> ModelDefinition:
    return ModelDefinition(
        provider="echo",
        model="echo-1",
        prompt="Answer in {language}.",
        user_template="Customer {customer} asks: {input}",
    )


def test_inline_templates_are_filled_from_vars(providers: Any) -> None:
    adapter = TracedAdapter.build(_inline(), {})
    out = adapter.predict([{"input": "hi", "vars": {"language": "French", "customer": "Ann"}}])
    assert out.predictions == ["echo: Customer Ann asks: hi"]
    rows, _, _ = adapter._prepare(
        [{"input": "x", "vars": {"language": "Welsh", "customer": "B"}}], None
    )
    (row,) = rows
    assert [m.model_dump() for m in row.messages or []] == [
        {"role": "system", "content": "Answer in Welsh."},
        {"role": "user", "content": "Customer B asks: x"},
    ]


def test_an_unfilled_variable_is_a_schema_error_before_any_request(providers: Any) -> None:
    adapter = TracedAdapter.build(_inline(), {})
    with pytest.raises(SchemaError, match=r"row 1: .*customer"):
        adapter.predict(
            [
                {"input": "ok", "vars": {"language": "French", "customer": "A"}},
                {"input": "hi", "vars": {"language": "French"}},
            ]
        )
    assert adapter.client.calls == 0  # the first row was not sent either


def test_a_definition_refuses_bad_templates() -> None:
    with pytest.raises(ConfigError, match="not both"):
        ModelDefinition(model="m", prompt="a", system_prompt="b")
    with pytest.raises(ConfigError, match="plain variable"):
        ModelDefinition(model="m", prompt="Hello {user.name}")
    assert from_mustache("{{ a }} {b}") == "{a} {{b}}"


def test_a_registry_prompt_is_pinned_at_save(experiment: str, store: Any) -> None:
    import mlflow
    from mlflow import MlflowClient

    from llmreg.cli import cli

    name = f"support-{uuid.uuid4().hex[:8]}"
    first = mlflow.genai.register_prompt(name, "You help with {{ product }}.")
    mlflow.genai.set_prompt_alias(name, "champion", first.version)
    definition = ModelDefinition(
        provider="echo", model="echo-1", prompt=f"prompts:/{name}@champion"
    )
    saved = CustomSaver(experiment=experiment).save(definition)
    pinned = f"prompts:/{name}/{first.version}"

    second = mlflow.genai.register_prompt(name, "You sell {{ product }}.")
    mlflow.genai.set_prompt_alias(name, "champion", second.version)

    adapter = CustomLoader().load(saved.uri)
    assert adapter.definition.prompt == pinned
    templates = Templates(adapter.definition, adapter.resolve_prompt)
    assert templates.system() == "You help with {product}."
    assert adapter.predict([{"input": "q", "vars": {"product": "bikes"}}]).predictions == [
        "echo: q"
    ]
    with pytest.raises(SchemaError, match="product"):
        adapter.predict(["q"])
    logged = MlflowClient().get_logged_model(saved.model_id)
    assert logged.params["prompt_ref"] == f"prompts:/{name}@champion"
    assert logged.params["prompt_version"] == str(first.version)
    shown = CliRunner().invoke(cli, ["show", saved.uri])
    assert shown.exit_code == 0, shown.output
    assert pinned in shown.output


def test_a_missing_registry_prompt_fails_the_save(experiment: str, store: Any) -> None:
    definition = ModelDefinition(provider="echo", model="echo-1", prompt="prompts:/nope-x/1")
    from llmreg.errors import LlmregError

    with pytest.raises(LlmregError, match="nope-x"):
        CustomSaver(experiment=experiment).save(definition)
