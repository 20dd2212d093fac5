"""The definition's system prompt, templates and a row's vars reach the endpoint on every
path (issue 21, item 4): the core's row loop, and llmreg-pyfunc's model as MLflow loads
it. Provider "openai" (llmreg-litellm) against tests/support/openai_server on 127.0.0.1,
a real sqlite MLflow store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from llmreg.adapter import ClientAdapter
from llmreg.definition import ModelDefinition
from llmreg_pyfunc import CustomLoader, CustomSaver
from support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.integration

ROW = {"input": "hi", "vars": {"language": "French", "customer": "Ann"}}
EXPECTED = [
    {"role": "system", "content": "Answer in French."},
    {"role": "user", "content": "Ann asks: hi"},
]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("templates-it")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.chdir(root)
        yield root


def _definition(endpoint: FakeOpenAIServer, model: str) -> ModelDefinition:
    return ModelDefinition(
        provider="openai",
        model=model,
        base_url=endpoint.base_url,
        max_retries=0,
        prompt="Answer in {language}.",
        user_template="{customer} asks: {input}",
    )


def _received(endpoint: FakeOpenAIServer, model: str) -> list[Any]:
    return [(r.body or {}).get("messages") for r in endpoint.chat_requests(model)]


def test_the_core_row_loop_sends_the_rendered_templates(endpoint: FakeOpenAIServer) -> None:
    adapter = ClientAdapter.build(_definition(endpoint, "core-templates"), {})
    try:
        assert adapter.predict([ROW]).predictions == ["echo: Ann asks: hi"]
    finally:
        adapter.close()
    assert _received(endpoint, "core-templates") == [EXPECTED]


def test_the_pyfunc_model_sends_the_rendered_templates(
    endpoint: FakeOpenAIServer, store: Path
) -> None:
    saved = CustomSaver(experiment="templates-it").save(_definition(endpoint, "pyfunc-templates"))
    adapter = CustomLoader().load(saved.uri)
    try:
        assert adapter.predict([ROW]).predictions == ["echo: Ann asks: hi"]
    finally:
        adapter.close()
    frame = pd.DataFrame({"input": ["hi"], "language": ["French"], "customer": ["Ann"]})
    answers = mlflow.pyfunc.load_model(saved.uri).predict(frame)
    assert list(answers["prediction"]) == ["echo: Ann asks: hi"]
    assert _received(endpoint, "pyfunc-templates") == [EXPECTED, EXPECTED]
