"""The abstract bases: not instantiable, frozen, strict about fields."""

from typing import Literal

import pytest
from pydantic import ValidationError

from llmreg import Loader, Register, Saver


@pytest.mark.parametrize("base", [Saver, Loader, Register])
def test_bases_cannot_be_instantiated(base):
    with pytest.raises(TypeError, match="abstract"):
        base(KIND="x")


class DemoSaver(Saver):
    KIND: Literal["DemoSaver"] = "DemoSaver"

    def save(self, model, signature=None, input_example=None):
        return self.path


def test_subclass_defaults_and_frozen():
    saver = DemoSaver()
    assert (saver.KIND, saver.path, saver.config_file) == (
        "DemoSaver",
        "model",
        "model_definition.json",
    )
    with pytest.raises(ValidationError):
        saver.path = "other"


def test_extra_fields_forbidden():
    with pytest.raises(ValidationError, match="surprise"):
        DemoSaver(surprise=1)


@pytest.mark.parametrize(
    "field,value", [("path", "a/../b"), ("config_file", "x.yaml"), ("path", "")]
)
def test_saver_fields_validated(field, value):
    with pytest.raises(ValidationError, match=field):
        DemoSaver(**{field: value})


def test_adapter_apredict_defaults_to_predict_in_a_worker_thread():
    import asyncio
    import threading

    from llmreg import Adapter, Outputs, Result

    class Threads(Adapter):
        def predict(self, inputs, params=None):
            name = threading.current_thread().name
            return Outputs(rows=[Result(prediction=f"{inputs}:{name}", metadata={})])

    async def call():
        return await Threads().apredict("x"), threading.current_thread().name

    out, caller = asyncio.run(call())
    text = out.predictions[0]
    assert text.startswith("x:")
    assert text != f"x:{caller}"  # ran off the event loop's thread
