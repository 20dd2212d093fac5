"""The model definition validates before anything runs and never persists a secret."""

import json

import pytest
from pydantic import SecretStr

from llmreg import ModelDefinition, resolve_api_key
from llmreg.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    SecretPersistError,
    SecretResolutionError,
)


def test_defaults():
    d = ModelDefinition(model="gpt-4o-mini")
    assert (d.provider, d.temperature, d.concurrency, d.max_retries, d.fallbacks) == (
        "openai",
        0.0,
        8,
        2,
        [],
    )


def test_reference_is_kept_and_resolved_at_use(monkeypatch):
    d = ModelDefinition(model="m", api_key="env:LLMREG_TEST_KEY")
    assert d.persistable()["api_key"] == "env:LLMREG_TEST_KEY"
    monkeypatch.delenv("LLMREG_TEST_KEY", raising=False)
    with pytest.raises(SecretResolutionError, match="LLMREG_TEST_KEY"):
        resolve_api_key(d.api_key)
    monkeypatch.setenv("LLMREG_TEST_KEY", "sk-test-value")
    assert resolve_api_key(d.api_key) == "sk-test-value"
    assert d.resolved_secrets() == ["sk-test-value"]


def test_literal_key_is_held_secret_and_refused_by_persist():
    d = ModelDefinition(model="m", api_key="sk-literal-secret-123456")
    assert isinstance(d.api_key, SecretStr)
    assert "sk-literal" not in repr(d) and "sk-literal" not in str(d)
    with pytest.raises(SecretPersistError, match="env:"):
        d.persistable()
    with pytest.raises(SecretPersistError):
        d.to_json()


def test_literal_key_in_a_fallback_is_refused_too():
    d = ModelDefinition(model="m", fallbacks=[{"model": "b", "api_key": "sk-fallback-literal"}])
    with pytest.raises(SecretPersistError):
        d.persistable()


def test_malformed_reference():
    with pytest.raises(ValueError, match="env:NAME"):
        ModelDefinition(model="m", api_key="env:not a name")


@pytest.mark.parametrize(
    "data,field",
    [
        ({"model": "m", "temperature": 3}, "temperature"),
        ({"model": "m", "temperature": -0.1}, "temperature"),
        ({"model": "m", "max_tokens": -5}, "max_tokens"),
        ({"model": "m", "max_tokens": "many"}, "max_tokens"),
        ({"model": "m", "concurrency": 0}, "concurrency"),
        ({"model": ""}, "model"),
        ({}, "model"),
        ({"model": "m", "unknown_field": 1}, "unknown_field"),
        ({"model": "m", "base_url": "ftp://x"}, "base_url"),
        ({"model": "m", "fallbacks": [{"temperature": 1}]}, "fallbacks.0.model"),
    ],
)
def test_invalid_fields_are_named(data, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        ModelDefinition.from_dict(data)


def test_fallbacks_inherit_unset_fields():
    d = ModelDefinition(
        model="primary",
        base_url="http://127.0.0.1:1/v1",
        api_key="env:K",
        temperature=0.3,
        fallbacks=[{"model": "backup"}, {"model": "other", "base_url": "http://127.0.0.1:2/v1"}],
    )
    first, second = d.resolved_fallbacks()
    assert (first.model, first.base_url, first.api_key, first.temperature) == (
        "backup",
        "http://127.0.0.1:1/v1",
        "env:K",
        0.3,
    )
    assert (second.model, second.base_url) == ("other", "http://127.0.0.1:2/v1")
    assert first.fallbacks == [] and second.fallbacks == []


def test_from_file_errors(tmp_path):
    with pytest.raises(ConfigError) as none_given:
        ModelDefinition.from_file(None)
    assert isinstance(none_given.value, ValueError)
    with pytest.raises(ConfigFileNotFoundError) as missing:
        ModelDefinition.from_file(tmp_path / "missing.json")
    assert isinstance(missing.value, FileNotFoundError)
    assert "missing.json" in str(missing.value)
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(ConfigError, match="empty"):
        ModelDefinition.from_file(empty)
    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        ModelDefinition.from_file(not_object)
    bad = tmp_path / "bad.json"
    bad.write_text("{model: }")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ModelDefinition.from_file(bad)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(ConfigError, match="UTF-8"):
        ModelDefinition.from_file(binary)


def test_round_trip_through_json(tmp_path):
    d = ModelDefinition(
        model="m",
        base_url="http://127.0.0.1:8/v1",
        api_key="env:K",
        max_tokens=16,
        fallbacks=[{"model": "b"}],
        options={"chat_template": "x"},
    )
    file = tmp_path / "d.json"
    file.write_text(d.to_json())
    assert ModelDefinition.from_file(file) == d
    assert json.loads(file.read_text())["fallbacks"] == [{"model": "b"}]


def test_credential_headers_are_references_or_refused(monkeypatch):
    literal = ModelDefinition(
        model="m", extra_headers={"Authorization": "Bearer sk-header-literal"}
    )
    assert literal.literal_secrets() == ["Bearer sk-header-literal"]
    with pytest.raises(SecretPersistError, match="credential header"):
        literal.persistable()
    harmless = ModelDefinition(model="m", extra_headers={"X-Team": "search"})
    assert harmless.persistable()["extra_headers"] == {"X-Team": "search"}

    ref = ModelDefinition(model="m", extra_headers={"X-Api-Key": "env:LLMREG_HEADER_KEY"})
    assert ref.persistable()["extra_headers"] == {"X-Api-Key": "env:LLMREG_HEADER_KEY"}
    monkeypatch.delenv("LLMREG_HEADER_KEY", raising=False)
    with pytest.raises(SecretResolutionError, match="LLMREG_HEADER_KEY"):
        ref.resolved_headers()
    monkeypatch.setenv("LLMREG_HEADER_KEY", "hk-resolved-value")
    assert ref.resolved_headers() == {"X-Api-Key": "hk-resolved-value"}
    assert "hk-resolved-value" in ref.resolved_secrets()


def test_malformed_header_reference():
    with pytest.raises(ValueError, match="env:NAME"):
        ModelDefinition(model="m", extra_headers={"X-Api-Key": "env:not a name"})
