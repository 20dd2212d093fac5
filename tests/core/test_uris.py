"""Model URIs: parsed before MLflow is asked, and built by the registry helpers."""

from __future__ import annotations

import pytest

from llmreg.errors import InvalidModelURIError
from llmreg.uris import (
    parse_model_uri,
    uri_for_model_alias,
    uri_for_model_alias_or_version,
    uri_for_model_version,
)


@pytest.mark.parametrize(
    "uri, kind, parts",
    [
        ("runs:/abc123/model", "run", {"run_id": "abc123", "path": "model"}),
        ("models:/chat/3", "version", {"name": "chat", "version": 3}),
        ("models:/chat@champion", "alias", {"name": "chat", "alias": "champion"}),
        ("models:/m-0123abcd", "logged_model", {"model_id": "m-0123abcd"}),
        ("/tmp/some/model", "local", {"path": "/tmp/some/model"}),
        ("relative/model", "local", {"path": "relative/model"}),
        ("file:///tmp/m", "local", {"path": "/tmp/m"}),
    ],
)
def test_valid_forms(uri: str, kind: str, parts: dict[str, object]) -> None:
    parsed = parse_model_uri(uri)
    assert parsed.kind == kind
    for key, value in parts.items():
        assert getattr(parsed, key) == value


@pytest.mark.parametrize(
    "uri, why",
    [
        ("models:/chat/0", "start at 1"),
        ("models:/chat/-1", "not a positive integer"),
        ("models:/chat/abc", "not a positive integer"),
        ("models:/chat/1.5", "not a positive integer"),
        ("models:/", "name is empty"),
        ("models:/@champion", "name is empty"),
        ("models:/chat", "needs a name and a version"),
        ("models:/chat@", "needs a name and a version"),
        ("runs:/abc", "run id and an artifact path"),
        ("runs:/", "run id and an artifact path"),
        ("s3://bucket/model", "'s3' is not supported"),
        ("http://host/model", "'http' is not supported"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_malformed_uris_are_typed_errors(uri: str, why: str) -> None:
    with pytest.raises(InvalidModelURIError, match=why) as info:
        parse_model_uri(uri)
    assert isinstance(info.value, ValueError)
    assert "Use one of" in str(info.value)


def test_non_string_uri() -> None:
    with pytest.raises(InvalidModelURIError):
        parse_model_uri(None)


@pytest.mark.parametrize("version, expected", [(1, "models:/chat/1"), ("12", "models:/chat/12")])
def test_version_uri_from_int_or_digits(version: int | str, expected: str) -> None:
    assert uri_for_model_version("chat", version) == expected


def test_leading_zeros_are_normalised() -> None:
    assert uri_for_model_version("chat", "007") == "models:/chat/7"


@pytest.mark.parametrize("version", [0, -1, "0", "-3", "+0", "1.5", "", "one", 2.0, True, None])
def test_bad_versions_are_typed_errors(version: object) -> None:
    with pytest.raises(InvalidModelURIError, match="version"):
        uri_for_model_version("chat", version)  # type: ignore[arg-type]


def test_alias_uri() -> None:
    assert uri_for_model_alias("chat", "champion") == "models:/chat@champion"
    assert uri_for_model_alias("chat", "_canary-2") == "models:/chat@_canary-2"


@pytest.mark.parametrize("alias", ["1", "", "a b", "a/b", "-x", "latest", "LATEST", "v3", "ä"])
def test_bad_aliases_are_typed_errors(alias: str) -> None:
    with pytest.raises(InvalidModelURIError, match="alias"):
        uri_for_model_alias("chat", alias)


@pytest.mark.parametrize(
    "x, expected",
    [
        (1, "models:/chat/1"),
        ("1", "models:/chat/1"),  # the original design read "1" as an alias: the bug
        ("42", "models:/chat/42"),
        ("champion", "models:/chat@champion"),
        ("v1beta", "models:/chat@v1beta"),
    ],
)
def test_alias_or_version(x: int | str, expected: str) -> None:
    assert uri_for_model_alias_or_version("chat", x) == expected


@pytest.mark.parametrize("x", [0, -1, "0", "-1", "latest", "v2", "1a/"])
def test_alias_or_version_rejects_what_is_neither(x: int | str) -> None:
    with pytest.raises(InvalidModelURIError):
        uri_for_model_alias_or_version("chat", x)


@pytest.mark.parametrize("name", ["", "a/b", "a:b", "a@b", "a b", ".hidden", None])
def test_bad_model_names_are_typed_errors(name: object) -> None:
    with pytest.raises(InvalidModelURIError, match="name"):
        uri_for_model_version(name, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("models:/chat@1", "a string of digits is a version"),
        ("models:/chat@latest", "reserves"),
        ("models:/chat@v2", "reserves"),
        ("models:/chat@-x", "invalid alias"),
    ],
)
def test_parsed_aliases_follow_the_registry_rules(uri: str, why: str) -> None:
    with pytest.raises(InvalidModelURIError, match=why):
        parse_model_uri(uri)
