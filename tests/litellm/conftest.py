"""Fixtures of the llmreg-litellm suite: one real fake OpenAI server, client factories."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llmreg import ModelDefinition
from llmreg_litellm.client import OpenAICompatibleClient
from support.openai_server import FakeOpenAIServer

#: Each call of the fixtures below returns a client; the fixture closes them after the test.
MakeClient = Callable[..., OpenAICompatibleClient]


@pytest.fixture(scope="session")
def server() -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-compatible HTTP server on 127.0.0.1, shared by the suite.

    Tests keep out of each other's way by using unique model names (the ``unique`` fixture).
    """
    with FakeOpenAIServer(latency=0.0) as srv:
        yield srv


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Return a maker of model names starting with a prefix that no other test uses."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def definition(server: FakeOpenAIServer) -> Callable[..., ModelDefinition]:
    """Build a definition for ``model`` at the fake server, with small timeouts."""

    def make(model: str, **fields: Any) -> ModelDefinition:
        values: dict[str, Any] = {
            "provider": "openai",
            "model": model,
            "base_url": server.base_url,
            "timeout": 5.0,
            "max_retries": 2,
        }
        values.update(fields)
        return ModelDefinition.model_validate(values)

    return make


@pytest.fixture
def make_client(definition: Callable[..., ModelDefinition]) -> Iterator[MakeClient]:
    """Build clients for models at the fake server; every one is closed after the test."""
    clients: list[OpenAICompatibleClient] = []

    def make(model: str, *, extra_body: dict[str, Any] | None = None, **fields: Any) -> Any:
        client = OpenAICompatibleClient(definition(model, **fields), extra_body=extra_body)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
