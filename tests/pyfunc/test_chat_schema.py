"""The default chat signature, and checks of a given signature or input example."""

from __future__ import annotations

import pytest
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from llmreg.errors import SchemaError
from llmreg_pyfunc.chat_schema import check_example, check_signature, default_signature

OUT = Schema([ColSpec("string", "prediction"), ColSpec("string", "metadata")])


def test_default_signature_is_the_chat_schema() -> None:
    sig = default_signature()
    assert sig.inputs is None  # the model checks its input; MLflow hands it over as sent
    assert sig.outputs.input_names() == ["prediction", "metadata"]
    params = {p.name: p.default for p in sig.params.params}
    assert params == {
        "temperature": None,
        "max_tokens": None,
        "top_p": None,
        "seed": None,
        "strict": False,
        "concurrency": None,
        "stop": [],
    }
    shapes = {p.name: p.shape for p in sig.params.params}
    assert shapes["stop"] == (-1,) and shapes["temperature"] is None
    assert check_signature(sig) is sig


def test_text_only_signature_fits() -> None:
    sig = ModelSignature(inputs=Schema([ColSpec("string", "input")]), outputs=OUT)
    assert check_signature(sig) is sig


@pytest.mark.parametrize(
    "sig, why",
    [
        (ModelSignature(inputs=Schema([ColSpec("string", "question")]), outputs=OUT), "inputs"),
        (ModelSignature(inputs=Schema([ColSpec("long", "input")]), outputs=OUT), "string"),
        (
            ModelSignature(
                inputs=Schema([ColSpec("string", "input")]),
                outputs=Schema([ColSpec("string", "answer")]),
            ),
            "outputs",
        ),
        (
            ModelSignature(
                inputs=Schema([ColSpec("string", "input")]),
                outputs=OUT,
                params=ParamSchema([ParamSpec("beam_width", "long", 2)]),
            ),
            "beam_width",
        ),
        (
            ModelSignature(
                inputs=Schema([ColSpec("string", "input")]),
                outputs=OUT,
                params=ParamSchema([ParamSpec("stop", "string", None)]),
            ),
            "'stop' has shape None; declare it as a list",
        ),
        (
            ModelSignature(
                inputs=Schema([ColSpec("string", "input")]),
                outputs=OUT,
                params=ParamSchema([ParamSpec("temperature", "double", [0.1], shape=(-1,))]),
            ),
            "'temperature' has shape",
        ),
        ({"inputs": "input"}, "ModelSignature"),
    ],
)
def test_mismatched_signature(sig: object, why: str) -> None:
    with pytest.raises(SchemaError, match=why):
        check_signature(sig)


def test_example_in_plain_forms_is_stored_columnar() -> None:
    sig = default_signature()
    assert check_example(["a", "b"], sig) == {"input": ["a", "b"]}
    chat = [{"messages": [{"role": "user", "content": "hi"}]}]
    assert check_example(chat, sig) == {"messages": [[{"role": "user", "content": "hi"}]]}


@pytest.mark.parametrize(
    "example",
    [{"question": "a"}, [{"messages": [{"role": "robot", "content": "x"}]}], 42, []],
)
def test_mismatched_example(example: object) -> None:
    with pytest.raises(SchemaError):
        check_example(example, default_signature())


def test_example_must_fit_the_signature() -> None:
    sig = ModelSignature(inputs=Schema([ColSpec("string", "input")]), outputs=OUT)
    with pytest.raises(SchemaError, match="declares only"):
        check_example([{"messages": [{"role": "user", "content": "hi"}]}], sig)
