"""Model URI syntax is checked before MLflow is asked."""

from __future__ import annotations

import pytest

from llmreg.errors import InvalidModelURIError
from llmreg_pyfunc.uris import parse_model_uri


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
