"""llmreg.jsonio: the one strict JSON reader, and the readers that use it."""

from __future__ import annotations

import pytest

from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, LlmregError
from llmreg.jsonio import MAX_JSON_DEPTH, InvalidJSONError, json_depth, loads


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"a": 1, "a": 2}', "the key 'a' is given twice"),
        ('[{"x": {"k": 1, "k": 1}}]', "the key 'k' is given twice"),
        ('{"t": NaN}', "NaN is not JSON"),
        ("[-Infinity]", "-Infinity is not JSON"),
        ('{"a": ', "line 1, column 7"),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nested 65 levels deep"),
        (b"\xff{}", "is not UTF-8 (byte 0)"),
    ],
)
def test_what_is_not_strict_json_is_a_typed_error_naming_the_text(
    text: str | bytes, says: str
) -> None:
    with pytest.raises(InvalidJSONError, match=r"^the body ") as caught:
        loads(text, "the body")
    assert says in str(caught.value)
    assert isinstance(caught.value, LlmregError) and isinstance(caught.value, ValueError)


def test_strict_json_parses_and_the_limit_itself_is_allowed() -> None:
    deepest = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(deepest) == MAX_JSON_DEPTH
    assert loads(deepest, "x") is not None
    assert loads('{"a": "[[[{{{", "b": [1.5, null, true]}', "x") == {
        "a": "[[[{{{",
        "b": [1.5, None, True],
    }
    assert loads('{"a": {"k": 1}, "b": {"k": 2}}', "x") == {"a": {"k": 1}, "b": {"k": 2}}


def test_a_caller_chooses_its_own_typed_error() -> None:
    with pytest.raises(ConfigError, match="the saver config is not valid JSON"):
        loads("{", "the saver config", ConfigError)


def test_a_definition_file_with_a_key_twice_is_refused(tmp_path) -> None:
    path = tmp_path / "chat.json"
    path.write_text('{"model": "a", "model": "b"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="the key 'model' is given twice"):
        ModelDefinition.from_file(path)
