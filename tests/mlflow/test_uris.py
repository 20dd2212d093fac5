"""The URI helpers: an int or a string of digits is a version, anything else an alias."""

from __future__ import annotations

import pytest

from llmreg.errors import InvalidModelURIError
from llmreg_mlflow import (
    uri_for_model_alias,
    uri_for_model_alias_or_version,
    uri_for_model_version,
)


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
