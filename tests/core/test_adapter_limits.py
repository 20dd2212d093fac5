"""ClientAdapter counts the whole row with the system prompt, and checks the params' type."""

import pytest

from llmreg import Inputs, ModelDefinition
from llmreg.adapter import ClientAdapter
from llmreg.errors import SchemaError
from llmreg.schemas import MAX_ROW_CHARS
from llmreg.testing import EchoClient


class CountingClient(EchoClient):
    """The echo client, counting the rows it was asked to answer."""

    def __init__(self, definition):
        super().__init__(definition)
        self.rows = 0

    def batch(self, requests, *, concurrency=None):
        self.rows += len(requests)
        return super().batch(requests, concurrency=concurrency)


def _predictor(system_prompt=None):
    definition = ModelDefinition(provider="echo", model="e", system_prompt=system_prompt)
    return ClientAdapter(CountingClient(definition), definition)


def test_the_system_prompt_counts_toward_the_row_limit():
    predictor = _predictor(system_prompt="s" * 100_000)
    row = "x" * (MAX_ROW_CHARS - 50_000)
    with pytest.raises(SchemaError, match="row 1 holds 1,050,000 characters"):
        predictor.predict(Inputs.parse(["short", row]))
    assert predictor.client.rows == 0  # refused before any call
    assert predictor.predict(Inputs.parse([row[:800_000]])).rows[0].ok


@pytest.mark.parametrize("params", ["x", ["strict"], 3])
def test_params_that_are_not_a_dict_are_a_schema_error(params):
    predictor = _predictor()
    with pytest.raises(SchemaError, match="params must be an object"):
        predictor.predict(Inputs.parse(["a"]), params)
