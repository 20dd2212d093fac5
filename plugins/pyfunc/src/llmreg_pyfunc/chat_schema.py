"""The chat schema as an MLflow signature: the default, and checks of a given one.

In: a text ``input`` or chat ``messages`` (a list of ``{role, content}``), checked by
the model itself, not declared in the default signature (see below).
Out: a ``prediction`` string and a ``metadata`` object.
Params: ``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``concurrency`` (unset by
default, so the model definition decides), ``stop`` (a list of strings; MLflow cannot
default a list param to null, so its default is ``[]``, which the predictor reads as
unset) and ``strict`` (default ``False``).

The default signature declares outputs and params but no input schema. MLflow
enforces a declared input schema before the model sees the data, turning a plain
list of strings into a DataFrame whose column ``0`` it then drops, and a chat request
``{"messages": [...]}`` into a DataFrame row that no longer says it was one. Without
one, ``mlflow.pyfunc.load_model(uri).predict(["text"])`` and ``mlflow models serve``'s
chat format reach the model as sent, and the model checks every form itself
(:func:`llmreg_pyfunc.frames.to_inputs`: a bad column is a one-line ``SchemaError``).
Params are still declared, so MLflow still checks and splits them. A given signature
may declare the ``input``/``messages`` columns; MLflow then enforces them first.

Call ``mlflow.pyfunc.spark_udf`` on the prompt column (``udf("input")``) or on a
struct of named columns (``udf(struct("id", "input"))``), or use
:func:`llmreg_pyfunc.spark.predict_frame` for the metadata too.
"""

from __future__ import annotations

from typing import Any

from llmreg.errors import SchemaError
from llmreg.schemas import Inputs
from llmreg_pyfunc.frames import is_dataframe, to_inputs

INPUT_COLUMNS = ("input", "messages")
OUTPUT_COLUMNS = ("prediction", "metadata")
#: Params the adapter reads, with their MLflow types.
PARAM_TYPES = {
    "temperature": "double",
    "max_tokens": "long",
    "top_p": "double",
    "seed": "long",
    "strict": "boolean",
    "concurrency": "long",
    "stop": "string",
}
#: Params that are a list of their type (MLflow shape ``(-1,)``), not a single value.
LIST_PARAMS = ("stop",)
#: The input example saved when none is given.
DEFAULT_EXAMPLE: dict[str, list[str]] = {"input": ["What is MLflow?"]}


def default_signature() -> Any:
    """Return the chat schema as an ``mlflow.models.ModelSignature``: outputs and params,
    no input schema (the model checks its input; see the module's docstring)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    anything = AnyType()  # type: ignore[no-untyped-call]
    outputs = Schema(
        [ColSpec("string", "prediction", required=False), ColSpec(anything, "metadata")]
    )
    params = ParamSchema(
        [
            ParamSpec(name, dtype, _param_default(name), shape=_param_shape(name))
            for name, dtype in PARAM_TYPES.items()
        ]
    )
    return ModelSignature(inputs=None, outputs=outputs, params=params)


def _param_shape(name: str) -> tuple[int, ...] | None:
    return (-1,) if name in LIST_PARAMS else None


def _param_default(name: str) -> Any:
    if name == "strict":
        return False
    # MLflow refuses a null default for a list param; [] is read as unset
    return [] if name in LIST_PARAMS else None


def check_signature(signature: Any) -> Any:
    """Return ``signature`` if it fits the chat schema.

    Raises:
        SchemaError: it is not a ``ModelSignature``, or its inputs, outputs or params
            do not fit; the message names what differs.
    """
    from mlflow.models import ModelSignature

    if not isinstance(signature, ModelSignature):
        raise SchemaError(
            f"signature must be an mlflow.models.ModelSignature, not {type(signature).__name__}; "
            "omit it to use the chat schema"
        )
    if signature.inputs is not None:
        inputs = signature.inputs.input_names()
        if not inputs or not set(inputs) <= set(INPUT_COLUMNS):
            raise SchemaError(
                f"signature inputs {inputs} do not fit the chat schema: use the columns 'input' "
                "(string) and/or 'messages' (list of {role, content}), or no input schema"
            )
        _check_input_types(signature)
    outputs = signature.outputs.input_names() if signature.outputs is not None else []
    if set(outputs) != set(OUTPUT_COLUMNS):
        raise SchemaError(
            f"signature outputs {outputs} do not fit the chat schema: use the columns "
            "'prediction' and 'metadata'"
        )
    params = [p.name for p in signature.params.params] if signature.params else []
    unknown = sorted(set(params) - set(PARAM_TYPES))
    if unknown:
        raise SchemaError(
            f"signature params {unknown} are not read by the model; use only {sorted(PARAM_TYPES)}"
        )
    _check_param_shapes(signature)
    return signature


def _check_param_shapes(signature: Any) -> None:
    for spec in signature.params.params if signature.params else []:
        if spec.shape != _param_shape(spec.name):
            form = "a list (shape (-1,))" if spec.name in LIST_PARAMS else "a single value"
            raise SchemaError(
                f"signature param {spec.name!r} has shape {spec.shape}; declare it as {form}"
            )


def _check_input_types(signature: Any) -> None:
    from mlflow.types.schema import Array, DataType

    for spec in signature.inputs.inputs:
        if spec.name == "input" and spec.type != DataType.string:
            raise SchemaError(f"signature input 'input' must be a string, not {spec.type}")
        if spec.name == "messages" and not isinstance(spec.type, Array):
            raise SchemaError(f"signature input 'messages' must be an array, not {spec.type}")


def check_example(example: Any, signature: Any) -> Any:
    """Return ``example`` in a form MLflow saves, if it fits the chat schema and ``signature``.

    Raises:
        SchemaError: the example is not valid chat input, or uses a column the
            signature does not declare.
    """
    inputs = to_inputs(example)
    declared = signature.inputs
    allowed = set(declared.input_names() if declared is not None else INPUT_COLUMNS)
    used = {key for key in ("input", "messages") for row in inputs.rows if getattr(row, key)}
    if not used <= allowed:
        raise SchemaError(
            f"input example uses {sorted(used)} but the signature declares only "
            f"{sorted(allowed)}; make them agree"
        )
    if is_dataframe(example):
        return example
    return example_records(inputs)


def example_records(inputs: Inputs) -> dict[str, list[Any]]:
    """Return ``inputs`` in MLflow's columnar example form."""
    if all(row.input is not None for row in inputs.rows):
        return {"input": [row.input for row in inputs.rows]}
    if all(row.messages is not None for row in inputs.rows):
        return {"messages": [[m.model_dump() for m in row.messages or []] for row in inputs.rows]}
    raise SchemaError(
        "an input example must use the same column in every row: all 'input' or all 'messages'"
    )
