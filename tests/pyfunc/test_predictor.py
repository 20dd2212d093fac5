"""The batch params the predictor reads besides generation overrides: strict and concurrency."""

import pytest

from llmreg import Inputs, ModelDefinition
from llmreg.errors import SchemaError
from llmreg.testing import EchoClient
from llmreg_pyfunc.predictor import Predictor


class RecordingClient(EchoClient):
    """The echo client, noting the concurrency each batch asked for."""

    def __init__(self, definition):
        super().__init__(definition)
        self.asked = []

    def batch(self, requests, *, concurrency=None):
        self.asked.append(concurrency)
        return super().batch(requests, concurrency=concurrency)


@pytest.fixture
def predictor():
    return Predictor(RecordingClient(ModelDefinition(provider="echo", model="e")), {}, 8)


def test_concurrency_param_overrides_the_definition_for_one_batch(predictor):
    out = predictor.predict(Inputs.parse(["a", "b"]), {"concurrency": 3})
    assert out.predictions == ["echo: a", "echo: b"]
    predictor.predict(Inputs.parse(["c"]))
    assert predictor.client.asked == [3, 8]


@pytest.mark.parametrize("bad", [0, 257, -1, "4", 2.5, True])
def test_concurrency_param_is_checked(predictor, bad):
    with pytest.raises(SchemaError, match="concurrency"):
        predictor.predict(Inputs.parse(["a"]), {"concurrency": bad})
    assert predictor.client.asked == []


def test_apredict_answers_like_predict_through_abatch(predictor):
    import asyncio

    out = asyncio.run(predictor.apredict(Inputs.parse(["a", "!fail", "b"]), {"concurrency": 2}))
    assert out.predictions == ["echo: a", None, "echo: b"]
    assert [r.metadata["status"] for r in out.rows] == ["ok", "error", "ok"]
    assert predictor.client.asked == [2]  # EchoClient.abatch runs batch in a worker thread
