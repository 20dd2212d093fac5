"""The provider's options: defaults, typed errors naming the field, stop strings, command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmreg import ConfigError, ConfigFileNotFoundError
from llmreg_llamacpp import registry
from llmreg_llamacpp.options import (
    DEFAULT_CHAT_TEMPLATE,
    DEFAULT_STOP,
    LlamaCppOptions,
    effective_stop,
)
from llmreg_llamacpp.server import ServerSettings


def test_empty_options_give_the_documented_defaults(make_definition):
    options = LlamaCppOptions.from_definition(make_definition())
    assert options.model_file is None
    assert options.chat_template == DEFAULT_CHAT_TEMPLATE
    assert (options.context_size, options.threads, options.parallel) == (2048, 2, 1)
    assert options.cache_prompt is False
    assert options.server_args == []


def test_default_template_is_the_plain_question_answer_prompt():
    assert "'Question: ' + message.content" in DEFAULT_CHAT_TEMPLATE
    assert "{{ 'Answer:' }}" in DEFAULT_CHAT_TEMPLATE


def test_unknown_option_is_a_config_error_naming_it_and_the_valid_ones(make_definition):
    with pytest.raises(ConfigError, match="thread") as caught:
        LlamaCppOptions.from_definition(make_definition(options={"thread": 4}))
    assert "Valid options: model_file" in str(caught.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("threads", 0),
        ("parallel", "many"),
        ("context_size", 16),
        ("start_timeout", -1),
        ("model_file", ""),
        ("chat_template", 3),
        ("cache_prompt", "sometimes"),
        ("server_args", "--flag"),
    ],
)
def test_bad_value_is_a_config_error_naming_the_field(make_definition, field, value):
    with pytest.raises(ConfigError, match=rf"\b{field}\b"):
        LlamaCppOptions.from_definition(make_definition(options={field: value}))


def test_bad_options_fail_the_client_before_any_server_starts(make_definition, new_client):
    before = registry.running_servers()
    with pytest.raises(ConfigError, match="threads"):
        new_client(make_definition(options={"threads": -2}))
    assert registry.running_servers() == before


def test_missing_model_file_is_a_file_not_found_error_naming_the_option(
    make_definition, new_client, tmp_path
):
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ConfigFileNotFoundError, match=r"options\.model_file") as caught:
        new_client(make_definition(options={"model_file": str(missing)}))
    assert str(missing) in str(caught.value)


def test_stop_defaults_to_the_templates_own_strings(make_definition):
    options = LlamaCppOptions()
    assert effective_stop(make_definition(), options) == list(DEFAULT_STOP)
    assert effective_stop(make_definition(stop=["END"]), options) == ["END"]
    assert effective_stop(make_definition(stop=[]), options) == []


def test_another_template_sends_no_default_stop(make_definition):
    options = LlamaCppOptions(chat_template="{{ messages[0].content }}")
    assert effective_stop(make_definition(), options) is None
    assert effective_stop(make_definition(), LlamaCppOptions(chat_template=None)) is None


def _settings(template: Path | None, args: tuple[str, ...] = ()) -> ServerSettings:
    return ServerSettings(
        binary=Path("/bin/llama-server"),
        model_file=Path("/m/model.gguf"),
        chat_template_file=template,
        context_size=1024,
        threads=3,
        parallel=2,
        server_args=args,
    )


def test_command_line_carries_every_setting_on_loopback():
    command = _settings(Path("/t/chat.jinja"), ("--seed", "7")).command(5555)
    assert command[0] == "/bin/llama-server"
    joined = " ".join(command)
    for flags in (
        "-m /m/model.gguf",
        "--host 127.0.0.1",
        "--port 5555",
        "-c 1024",
        "-t 3",
        "-np 2",
        "--poll 0",
        "--chat-template-file /t/chat.jinja",
    ):
        assert flags in joined
    assert command[-2:] == ["--seed", "7"]


def test_command_line_without_template_uses_the_models_own():
    assert "--chat-template-file" not in _settings(None).command(5555)
