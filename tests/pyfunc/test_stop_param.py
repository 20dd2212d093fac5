"""The batch param ``stop`` goes through MLflow's params schema to the client."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import mlflow
import pandas as pd
import pytest

from llmreg import hookimpl
from llmreg.client import RowResult
from llmreg.definition import ModelDefinition
from llmreg.schemas import Request
from llmreg.testing import EchoClient, registered
from llmreg_pyfunc import CustomSaver

SEEN: list[Request] = []


class RecordingClient(EchoClient):
    """An echo client that records every row it is asked to answer."""

    def batch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Record the rows, then echo them."""
        SEEN.extend(requests)
        return super().batch(requests, concurrency=concurrency)


class _Recording:
    @hookimpl
    def llmreg_register_providers(self, register: Any) -> None:
        register("recording", RecordingClient)


@pytest.fixture(scope="module")
def served(store: Any, providers: Any) -> Iterator[Any]:
    """A model saved with the default signature, loaded by MLflow's own pyfunc loader."""
    with registered(_Recording()):
        definition = ModelDefinition(provider="recording", model="r", stop=["DEF"])
        info = CustomSaver(experiment="stop-param").save(definition)
        yield mlflow.pyfunc.load_model(info.uri)


def _rows_after(model: Any, params: dict[str, Any] | None) -> list[Request]:
    SEEN.clear()
    out = model.predict(pd.DataFrame({"input": ["a", "b"]}), params=params)
    assert out["prediction"].tolist() == ["echo: a", "echo: b"]
    return list(SEEN)


def test_stop_reaches_every_row(served: Any) -> None:
    rows = _rows_after(served, {"stop": ["END", "\n\n"]})
    assert [r.params.stop if r.params else None for r in rows] == [["END", "\n\n"]] * 2


def test_without_stop_the_definition_decides(served: Any) -> None:
    # MLflow fills in the signature's default [] for stop; it must not override anything
    rows = _rows_after(served, {"temperature": 0.3})
    assert [r.params.stop if r.params else None for r in rows] == [None, None]
    assert [r.params.temperature if r.params else None for r in rows] == [0.3, 0.3]
