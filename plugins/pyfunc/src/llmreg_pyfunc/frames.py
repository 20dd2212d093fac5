"""Convert between MLflow's pandas DataFrames and llmreg's :class:`Inputs` / :class:`Outputs`.

MLflow serving hands a model a DataFrame with a column ``input`` (text) or
``messages`` (chat), or both with one of them empty per row; other named columns
(and a ``vars`` column of dicts) are the row's prompt-template variables; it
expects a DataFrame back, here with the columns ``prediction`` and ``metadata``.
pandas is imported only when a DataFrame is actually converted.
"""

from __future__ import annotations

import math
from typing import Any

from llmreg.errors import SchemaError
from llmreg.schemas import Inputs, Outputs

ROW_COLUMNS = ("input", "messages", "params")


def is_dataframe(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame, without importing pandas."""
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    """Turn numpy arrays and scalars (what pandas holds) into plain Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def frame_to_rows(frame: Any) -> list[dict[str, Any]]:
    """Return the DataFrame's rows as request dicts, dropping empty cells.

    A frame with one unnamed column (``0``) holds texts (``input``) or chat messages.

    Raises:
        SchemaError: the frame has neither an ``input`` nor a ``messages`` column.
    """
    columns = [str(c) for c in frame.columns]
    if columns == ["0"]:
        frame = _name_the_column(frame)
        columns = [str(c) for c in frame.columns]
    if "input" not in columns and "messages" not in columns:
        raise SchemaError(
            f"the DataFrame has the columns {columns}; it needs a column 'input' (text) "
            "or 'messages' (a list of {role, content})"
        )
    rows: list[dict[str, Any]] = []
    for record in frame.to_dict(orient="records"):
        row = {
            key: _plain(value)
            for key, value in record.items()
            if key in ROW_COLUMNS and not _missing(value)
        }
        named = _named_vars(record)
        if named:
            row["vars"] = named
        rows.extend(_explode(row))
    return rows


def _named_vars(record: dict[Any, Any]) -> dict[str, str]:
    """A record's prompt-template variables: its ``vars`` cell (a dict) and every other
    named column holding a text or a number (``language="fr"`` fills ``{language}``);
    a template renders only the variables it names."""
    found: dict[str, str] = {}
    for key, value in record.items():
        if key in ROW_COLUMNS or _missing(value):
            continue
        value = _plain(value)
        if key == "vars" and isinstance(value, dict):
            found.update({str(k): str(v) for k, v in value.items() if not _missing(v)})
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            found.setdefault(str(key), str(value))
    return found


def _name_the_column(frame: Any) -> Any:
    """Name a DataFrame's one unnamed column (``0``): ``input`` when it holds texts, else
    ``messages``.

    ``pandas.DataFrame(["a", "b"])`` has such a column, and so has the frame
    ``mlflow.pyfunc.spark_udf`` builds from one column (``udf("input")``) for a model
    whose signature declares no input schema.
    """
    values = [v for v in frame.iloc[:, 0].tolist() if not _missing(v)]
    name = "input" if all(isinstance(v, str) for v in values) else "messages"
    return frame.set_axis([name], axis=1)


def _explode(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a cell holding a list of texts into one row per text.

    MLflow turns the columnar ``{"input": ["a", "b"]}`` (a dict payload, or
    ``{"inputs": ...}`` in serving) into a single row whose cell is the list.
    """
    texts = row.get("input")
    if isinstance(texts, list) and all(isinstance(t, str) for t in texts):
        return [{**row, "input": text} for text in texts]
    return [row]


def to_inputs(model_input: Any) -> Inputs:
    """Parse a DataFrame, or anything :meth:`Inputs.parse <llmreg.schemas.Inputs.parse>` takes.

    A DataFrame gives one row per record (a cell holding a list of texts, MLflow's
    reading of the columnar ``{"input": ["a", "b"]}``, one row per text); everything
    else (a string, a list of strings or row dicts, a dict, the columnar dict whose
    optional ``params`` apply to every row, :class:`Inputs`) is the core's to parse.

    Raises:
        SchemaError: the input does not fit the chat schema.
    """
    if is_dataframe(model_input):
        return Inputs.parse(frame_to_rows(model_input))
    return Inputs.parse(model_input)


def outputs_to_frame(outputs: Outputs) -> Any:
    """Return ``outputs`` as a DataFrame with the columns ``prediction`` and ``metadata``."""
    import pandas as pd

    # object dtype: a failed row's prediction stays None (null in JSON), never NaN
    return pd.DataFrame(
        {
            "prediction": pd.Series([row.prediction for row in outputs.rows], dtype=object),
            "metadata": pd.Series([row.metadata for row in outputs.rows], dtype=object),
        },
        columns=["prediction", "metadata"],
    )
