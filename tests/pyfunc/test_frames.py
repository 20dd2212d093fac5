"""pandas DataFrames <-> Inputs / Outputs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from llmreg.errors import SchemaError
from llmreg.schemas import Inputs, Outputs, Result
from llmreg_pyfunc.frames import outputs_to_frame, to_inputs


def test_input_column() -> None:
    inputs = to_inputs(pd.DataFrame({"input": ["a", "b"]}))
    assert [r.input for r in inputs.rows] == ["a", "b"]


def test_messages_column() -> None:
    frame = pd.DataFrame({"messages": [[{"role": "user", "content": "hi"}]]})
    inputs = to_inputs(frame)
    assert inputs.rows[0].messages is not None
    assert inputs.rows[0].messages[0].content == "hi"


def test_mixed_columns_with_empty_cells() -> None:
    frame = pd.DataFrame(
        {"input": ["a", math.nan], "messages": [None, [{"role": "user", "content": "m"}]]}
    )
    inputs = to_inputs(frame)
    assert inputs.rows[0].input == "a" and inputs.rows[0].messages is None
    assert inputs.rows[1].input is None and inputs.rows[1].messages is not None


def test_a_cell_with_a_list_of_texts_is_one_row_per_text() -> None:
    # what MLflow makes of the columnar {"input": ["a", "b"]}
    frame = pd.DataFrame({"input": [["a", "b"]]})
    assert [r.input for r in to_inputs(frame).rows] == ["a", "b"]


def test_frame_without_a_known_column() -> None:
    with pytest.raises(SchemaError, match="needs a column 'input'"):
        to_inputs(pd.DataFrame({"question": ["a"]}))


@pytest.mark.parametrize(
    "value, texts",
    [
        (["a", "b"], ["a", "b"]),
        ({"input": "a"}, ["a"]),
        ({"input": ["a", "b"]}, ["a", "b"]),
        ("a", ["a"]),
        (Inputs.parse(["x"]), ["x"]),
    ],
)
def test_plain_forms(value: object, texts: list[str]) -> None:
    assert [r.input for r in to_inputs(value).rows] == texts


def test_bad_row_is_schema_error() -> None:
    with pytest.raises(SchemaError):
        to_inputs([{"input": "a", "messages": [{"role": "user", "content": "b"}]}])


def test_outputs_to_frame() -> None:
    outputs = Outputs(
        rows=[
            Result(prediction="x", metadata={"status": "ok"}),
            Result(prediction=None, metadata={"status": "error"}),
        ]
    )
    frame = outputs_to_frame(outputs)
    assert list(frame.columns) == ["prediction", "metadata"]
    assert frame["prediction"].tolist() == ["x", None]
    assert frame["metadata"].tolist()[1] == {"status": "error"}


def test_columnar_dict_applies_params_to_every_row() -> None:
    inputs = to_inputs({"input": ["a", "b"], "params": {"temperature": 0.1}})
    assert [r.input for r in inputs.rows] == ["a", "b"]
    assert [r.params.temperature if r.params else None for r in inputs.rows] == [0.1, 0.1]


def test_columnar_dict_with_bad_params_is_schema_error() -> None:
    with pytest.raises(SchemaError, match="beam_width"):
        to_inputs({"input": ["a"], "params": {"beam_width": 2}})


@pytest.mark.parametrize("key", ["bogus", "messages"])
def test_columnar_dict_with_another_key_is_schema_error(key: str) -> None:
    with pytest.raises(SchemaError, match=key):
        to_inputs({"input": ["a"], key: 1})
