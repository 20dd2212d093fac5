"""Inputs and Outputs: the batch schemas, and the short forms Inputs accepts."""

import pytest

from llmreg import Inputs, Outputs, Result
from llmreg.errors import SchemaError
from llmreg.schemas import MAX_ROW_CHARS


def test_short_forms():
    assert Inputs.parse("hi").rows[0].input == "hi"
    assert [r.input for r in Inputs.parse(["a", "b"]).rows] == ["a", "b"]
    chat = Inputs.parse({"messages": [{"role": "user", "content": "x"}]})
    assert chat.rows[0].messages[0].content == "x"
    full = Inputs.parse({"rows": [{"input": "a", "params": {"temperature": 0.5}}]})
    assert full.rows[0].params.temperature == 0.5


@pytest.mark.parametrize(
    "payload,needle",
    [
        ([], "rows"),
        ({"rows": []}, "rows"),
        ({"rows": [{}]}, "exactly one"),
        ({"rows": [{"input": "a", "messages": [{"role": "user", "content": "b"}]}]}, "exactly one"),
        ({"messages": [{"content": "no role"}]}, "role"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"rows": [{"prompt": "wrong column"}]}, "prompt"),
        ({"rows": [{"input": "a", "params": {"temperature": 9}}]}, "temperature"),
        ({"rows": [{"input": "a", "params": {"bogus": 1}}]}, "bogus"),
        ("x" * (MAX_ROW_CHARS + 1), "input"),
        (42, "rows"),
    ],
)
def test_bad_input_is_a_schema_error_naming_the_problem(payload, needle):
    with pytest.raises(SchemaError, match=needle) as info:
        Inputs.parse(payload)
    assert isinstance(info.value, ValueError)


def test_chat_messages_prepends_system_prompt():
    row = Inputs.parse("q").rows[0]
    assert row.chat_messages("be brief") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "q"},
    ]


def test_outputs():
    out = Outputs(
        rows=[
            Result(prediction="a", metadata={"status": "ok"}),
            Result(prediction=None, metadata={"status": "error"}),
        ]
    )
    assert out.predictions == ["a", None]
    assert [r.ok for r in out.rows] == [True, False]
