"""The batch params CustomLoader's adapter reads besides generation overrides: strict and
concurrency (the core's ClientAdapter row loop, through LoadedAdapter)."""

import asyncio

import pytest

from llmreg import ModelDefinition
from llmreg.errors import SchemaError
from llmreg.testing import EchoClient
from llmreg_pyfunc.loader import LoadedAdapter


class RecordingClient(EchoClient):
    """The echo client, noting the concurrency each batch asked for."""

    def __init__(self, definition):
        super().__init__(definition)
        self.asked = []

    def batch(self, requests, *, concurrency=None):
        self.asked.append(concurrency)
        return super().batch(requests, concurrency=concurrency)


@pytest.fixture
def adapter():
    definition = ModelDefinition(provider="echo", model="e", concurrency=8)
    return LoadedAdapter(RecordingClient(definition), definition, {"model_uri": "models:/x/1"})


def test_concurrency_param_overrides_the_definition_for_one_batch(adapter):
    out = adapter.predict(["a", "b"], {"concurrency": 3})
    assert out.predictions == ["echo: a", "echo: b"]
    adapter.predict(["c"])
    assert adapter.client.asked == [3, 8]


@pytest.mark.parametrize("bad", [0, 257, -1, "4", 2.5, True])
def test_concurrency_param_is_checked(adapter, bad):
    with pytest.raises(SchemaError, match="concurrency"):
        adapter.predict(["a"], {"concurrency": bad})
    assert adapter.client.asked == []


def test_apredict_answers_like_predict_through_abatch(adapter):
    out = asyncio.run(adapter.apredict(["a", "!fail", "b"], {"concurrency": 2}))
    assert out.predictions == ["echo: a", None, "echo: b"]
    assert [r.metadata["status"] for r in out.rows] == ["ok", "error", "ok"]
    assert [r.metadata["model_uri"] for r in out.rows] == ["models:/x/1"] * 3
    assert adapter.client.asked == [2]  # EchoClient.abatch runs batch in a worker thread
