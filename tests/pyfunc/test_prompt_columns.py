"""Prompt-template variables from a DataFrame's named columns (issue 15): a row's columns
matching the templates' variables fill them, as ``vars`` does; an unfilled variable is a
SchemaError before any request. Real sqlite store, the echo provider (it answers
``echo: <last user message>``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from llmreg.definition import ModelDefinition
from llmreg.errors import SchemaError
from llmreg_pyfunc import CustomLoader, CustomSaver
from llmreg_pyfunc.frames import frame_to_rows


@pytest.fixture
def saved(experiment: str, store: Path) -> str:
    definition = ModelDefinition(
        provider="echo",
        model="e",
        prompt="Answer in {language}.",
        user_template="{input} ({tone})",
    )
    return CustomSaver(experiment=experiment).save(definition).uri


def test_named_columns_fill_the_templates(saved: str) -> None:
    frame = pd.DataFrame(
        {"input": ["hi", "bye"], "language": ["French", "German"], "tone": ["polite", "curt"]}
    )
    adapter = CustomLoader().load(saved)
    out = adapter.predict(frame)
    assert out.predictions == ["echo: hi (polite)", "echo: bye (curt)"]
    # the model MLflow loads (no input schema: the frame reaches it whole) answers alike
    import mlflow

    answers = mlflow.pyfunc.load_model(saved).predict(frame)
    assert list(answers["prediction"]) == ["echo: hi (polite)", "echo: bye (curt)"]


def test_a_vars_cell_wins_over_a_column_and_numbers_are_text() -> None:
    frame = pd.DataFrame(
        {
            "input": ["a"],
            "tone": ["column"],
            "vars": [{"tone": "cell"}],
            "count": [3],
            "flag": [True],
            "extra": [[1, 2]],
        }
    )
    assert frame_to_rows(frame) == [{"input": "a", "vars": {"tone": "cell", "count": "3"}}]


def test_an_unfilled_variable_is_a_schema_error_before_any_request(saved: str) -> None:
    adapter = CustomLoader().load(saved)
    frame = pd.DataFrame({"input": ["hi", "there"], "language": ["French", None]})
    with pytest.raises(SchemaError, match=r"row 0: .*tone"):
        adapter.predict(frame)
    with pytest.raises(SchemaError, match=r"row 1: .*language"):
        adapter.predict(frame.assign(tone=["a", "b"]))
