"""llmreg.uris checks names, aliases, tags and versions before anything is written.

The rules are llmreg's (ASCII, no ``/ : @``) within MLflow's limits: names of at
most 256 characters, aliases of at most 255, tag keys of at most 250 and tag
values of at most 100,000. Patterns match whole strings (no trailing newline),
and versions are ASCII digits only.
"""

from __future__ import annotations

import pytest

from llmreg.errors import InvalidModelURIError, RegistrationError, RegistrationInputError
from llmreg.uris import (
    MAX_TAG_VALUE_CHARS,
    check_registration,
    check_tags,
    parse_model_uri,
    shorten,
)


@pytest.mark.parametrize(
    "name",
    ["a/b", "..", ".hidden", "a@b", "a:b", "a\x01b", "café", "x" * 257, "chat\n", "", " chat"],
)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(RegistrationInputError, match="invalid registered model name") as info:
        check_registration(name)
    assert isinstance(info.value, RegistrationError) and isinstance(info.value, ValueError)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("alias", ["1", "007", "latest", "V2", "a.b", "champion\n", "x" * 256, ""])
def test_bad_aliases_are_refused(alias: str) -> None:
    with pytest.raises(RegistrationInputError, match="alias"):
        check_registration("chat", alias)


@pytest.mark.parametrize(
    "tags, says",
    [
        ({"k": "v" * (MAX_TAG_VALUE_CHARS + 1)}, "100,001 characters"),
        ({"": "v"}, "invalid tag key"),
        ({"/abs": "v"}, "invalid tag key"),
        ({"../up": "v"}, "invalid tag key"),
        ({"a//b": "v"}, "invalid tag key"),
        ({"k" * 251: "v"}, "invalid tag key"),
        ({"k\n": "v"}, "invalid tag key"),
        ({"ké": "v"}, "invalid tag key"),
        ({"k": 1}, "of type int"),
    ],
)
def test_bad_tags_are_refused(tags: dict[str, object], says: str) -> None:
    with pytest.raises(RegistrationInputError, match=says):
        check_registration("chat", "champion", tags)
    with pytest.raises(RegistrationInputError, match="registered-model tag"):
        check_registration("chat", model_tags=tags)


def test_good_inputs_pass() -> None:
    check_registration("chat-bot.v2", "champion", {"team/owner": "nlp: core", "note": "a\nb"})
    assert check_tags({"k": "v" * MAX_TAG_VALUE_CHARS}) == {"k": "v" * MAX_TAG_VALUE_CHARS}
    assert check_tags(None) == {}


FULL_WIDTH_ONE = "\uff11"
SUPERSCRIPT_TWO = "\u00b2"


@pytest.mark.parametrize(
    "uri",
    [
        f"models:/chat/{SUPERSCRIPT_TWO}",
        f"models:/chat/{FULL_WIDTH_ONE}",
        "models:/chat/1\n",
        "models:/chat/\u0663",
    ],
)
def test_only_ascii_digits_are_versions(uri: str) -> None:
    with pytest.raises(InvalidModelURIError, match="not a positive integer"):
        parse_model_uri(uri)


@pytest.mark.parametrize(
    "uri", ["models:/chat@champion\n", "runs:/abc/model\n", "models:/m-12ab\n"]
)
def test_a_trailing_newline_is_not_part_of_a_valid_uri(uri: str) -> None:
    with pytest.raises(InvalidModelURIError):
        parse_model_uri(uri)


def test_messages_quote_at_most_a_short_part_of_the_input() -> None:
    huge = "models:/chat/" + "9x" * 500_000
    with pytest.raises(InvalidModelURIError) as info:
        parse_model_uri(huge)
    assert len(str(info.value)) < 600
    assert "characters)" in str(info.value)
    assert shorten("short") == "'short'"
