"""Prediction rows: the size limit counts the whole row, params are numbers, messages bounded."""

import pytest

from llmreg.errors import SchemaError
from llmreg.schemas import MAX_ROW_CHARS, Inputs, check_row_sizes


def _messages(*sizes: int) -> dict:
    return {"messages": [{"role": "user", "content": "x" * n} for n in sizes]}


def test_the_limit_counts_every_message_of_a_row():
    with pytest.raises(SchemaError, match="1,200,000 characters"):
        Inputs.parse([_messages(600_000, 600_000)])
    assert Inputs.parse([_messages(500_000, 500_000)]).rows[0].text_chars() == MAX_ROW_CHARS


def test_the_system_prompt_is_counted_with_the_row():
    rows = Inputs.parse(["a", "x" * 999_990]).rows
    check_row_sizes(rows, "s" * 10)
    with pytest.raises(SchemaError, match="row 1 holds 1,000,001"):
        check_row_sizes(rows, "s" * 11)


@pytest.mark.parametrize(
    "params", [{"temperature": True}, {"max_tokens": True}, {"top_p": float("nan")}, {"seed": "1"}]
)
def test_row_params_are_numbers(params):
    with pytest.raises(SchemaError, match="params"):
        Inputs.parse([{"input": "a", "params": params}])


def test_thousands_of_bad_rows_give_a_bounded_message():
    with pytest.raises(SchemaError) as info:
        Inputs.parse([{"text": "x"}] * 2000)
    assert len(str(info.value)) < 2000
    assert "more" in str(info.value)
