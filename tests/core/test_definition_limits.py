"""The model definition refuses, when it is built, what would fail or leak later.

Booleans are not numbers, non-finite numbers are refused, URLs carry no
credentials, control characters or bad ports, keys that an HTTP header cannot
carry are refused when resolved (without showing them), text fields are bounded,
and every failure is a typed ``ConfigError`` naming the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmreg import ModelDefinition, resolve_api_key
from llmreg.definition import (
    MAX_JSON_DEPTH,
    MAX_NAME_CHARS,
    MAX_SYSTEM_PROMPT_CHARS,
    describe_validation_error,
)
from llmreg.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    DefinitionError,
    SecretResolutionError,
)


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": True}, "temperature"),
        ({"concurrency": False}, "concurrency"),
        ({"max_retries": True}, "max_retries"),
        ({"timeout": float("inf")}, "timeout"),
        ({"temperature": float("nan")}, "temperature"),
        ({"timeout": "10"}, "timeout"),
        ({"fallbacks": [{"model": "b", "max_tokens": True}]}, "fallbacks.0.max_tokens"),
        ({"options": {"x": float("inf")}}, "options"),
    ],
)
def test_booleans_strings_and_non_finite_numbers_are_not_numbers(fields, named) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        ModelDefinition.from_dict({"model": "m", **fields})
    with pytest.raises(DefinitionError, match=named.replace(".", r"\.")):
        ModelDefinition(model="m", **fields)


def test_a_definition_built_in_code_raises_a_config_error_that_is_a_value_error() -> None:
    with pytest.raises(DefinitionError, match="model") as info:
        ModelDefinition(model=None)  # type: ignore[arg-type]
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert "ModelDefinition is invalid" in str(info.value)


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://user:pass@host/v1", "carries credentials"),
        ("https://token@api.example.com/v1", "carries credentials"),
        ("http://host:99999/v1", "invalid port"),
        ("http://host:0/v1", "invalid port"),
        ("http://host:abc/v1", "invalid port"),
        ("http://host/v1\r\nX-Injected: 1", "control characters"),
        ("http://host/v1\n", "control characters"),
        ("http://ho st/v1", "space"),
        ("http:///v1", "with a host"),
        ("ftp://host/v1", "http:// or https://"),
        ("http://" + "h" * 3000, "at most"),
    ],
)
def test_bad_base_urls_are_refused_when_built(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        ModelDefinition.from_dict({"model": "m", "base_url": url})
    assert "pass" not in str(info.value).replace("password", "")
    assert "token@" not in str(info.value)


def test_credentials_in_a_fallback_url_are_refused_and_masked() -> None:
    data = {"model": "m", "fallbacks": [{"model": "b", "base_url": "http://u:s3cret@h/v1"}]}
    with pytest.raises(ConfigError, match=r"fallbacks\.0\.base_url") as info:
        ModelDefinition.from_dict(data)
    assert "s3cret" not in str(info.value)
    assert "extra_headers" in str(info.value)


def test_good_urls_pass() -> None:
    for url in ("http://127.0.0.1:8080/v1", "https://api.example.com/v1", "http://[::1]:9/v1"):
        assert ModelDefinition(model="m", base_url=url).base_url == url


def test_an_empty_api_key_says_so() -> None:
    with pytest.raises(ConfigError, match="api_key is empty") as info:
        ModelDefinition.from_dict({"model": "m", "api_key": ""})
    assert "literal" not in str(info.value)


@pytest.mark.parametrize(
    "value, says",
    [
        ("sk-secret-value\n", "control character at position 15"),
        ("sk-secret\r-value", "control character at position 9"),
        ("sk-secrét-value", "non-ASCII character at position 7"),
    ],
)
def test_a_key_an_http_header_cannot_carry_is_refused_unseen(monkeypatch, value, says) -> None:
    monkeypatch.setenv("LLMREG_TEST_BAD_KEY", value)
    definition = ModelDefinition(model="m", api_key="env:LLMREG_TEST_BAD_KEY")
    with pytest.raises(SecretResolutionError, match=says) as info:
        resolve_api_key(definition.api_key)
    message = str(info.value)
    assert "sk-secr" not in message and "LLMREG_TEST_BAD_KEY" in message
    # still masked wherever it could appear: the raw value and its stripped form
    assert value in definition.resolved_secrets()


def test_a_header_reference_to_a_bad_value_is_refused_too(monkeypatch) -> None:
    monkeypatch.setenv("LLMREG_TEST_BAD_HEADER", "Bearer abc\n")
    definition = ModelDefinition(
        model="m", extra_headers={"Authorization": "env:LLMREG_TEST_BAD_HEADER"}
    )
    with pytest.raises(SecretResolutionError, match="control character"):
        definition.resolved_headers()


@pytest.mark.parametrize(
    "headers, says",
    [
        ({"X-Team": "a\nb"}, "control character"),
        ({"Bad Name": "x"}, "not a valid HTTP header name"),
        ({"X-Big": "x" * 9000}, "at most"),
    ],
)
def test_literal_header_values_are_checked(headers, says) -> None:
    with pytest.raises(ConfigError, match=says):
        ModelDefinition.from_dict({"model": "m", "extra_headers": headers})


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"system_prompt": "x" * (MAX_SYSTEM_PROMPT_CHARS + 1)}, "system_prompt"),
        ({"model": "m" * (MAX_NAME_CHARS + 1)}, "model"),
        ({"stop": ["s"] * 17}, "stop"),
        ({"stop": ["s" * 1001]}, "stop.0"),
        ({"fallbacks": [{"model": "b"}] * 17}, "fallbacks"),
        ({"options": {"blob": "x" * 100_001}}, "options"),
    ],
)
def test_text_fields_are_bounded(fields, named) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        ModelDefinition.from_dict({"model": "m", **fields})


def test_from_file_refuses_non_paths_folders_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="int"):
        ModelDefinition.from_file(123)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="is a folder"):
        ModelDefinition.from_file(tmp_path)
    with pytest.raises(ConfigFileNotFoundError, match="does not exist"):
        ModelDefinition.from_file(tmp_path / "nope.json")


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"model": "m", "timeout": Infinity}', "Infinity is not JSON"),
        ('{"model": "m", "temperature": NaN}', "NaN is not JSON"),
        ('{"model": ' + "[" * 5000 + "]" * 5000 + "}", "nested 5001 levels deep"),
        ('{"model": "m", "options": ' + '{"a":' * 100 + "1" + "}" * 100 + "}", "nested"),
    ],
)
def test_config_files_that_are_not_plain_json_are_typed_errors(tmp_path, text, says) -> None:
    path = tmp_path / "def.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=says):
        ModelDefinition.from_file(path)


def test_deep_but_allowed_nesting_and_brackets_in_strings_are_fine(tmp_path) -> None:
    nested: object = 1
    for _ in range(MAX_JSON_DEPTH - 3):
        nested = {"a": nested}
    path = tmp_path / "def.json"
    path.write_text(json.dumps({"model": "[[[{{{", "options": {"deep": nested}}), encoding="utf-8")
    assert ModelDefinition.from_file(path).model == "[[[{{{"


def test_saved_json_holds_only_plain_numbers() -> None:
    text = ModelDefinition(model="m", temperature=1, timeout=5, max_tokens=3.0).to_json()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in saved JSON"))
    assert (data["temperature"], data["timeout"], data["max_tokens"]) == (1.0, 5.0, 3)


def test_a_validation_message_is_bounded() -> None:
    from pydantic import BaseModel, ValidationError

    class Many(BaseModel):
        items: list[int]

    with pytest.raises(ValidationError) as info:
        Many(items=["x"] * 2000)
    message = describe_validation_error(info.value, "thing")
    assert len(message) < 1500
    assert "and 1990 more" in message
