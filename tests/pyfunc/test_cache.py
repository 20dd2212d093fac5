"""The loaded-model cache: one load per key under concurrency, and dropped clients closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from llmreg import hookimpl
from llmreg.definition import ModelDefinition
from llmreg.testing import EchoClient, registered
from llmreg_pyfunc import CustomLoader, CustomSaver
from llmreg_pyfunc.cache import MODEL_CACHE

THREADS = 8


class ClosingClient(EchoClient):
    """An echo client that counts how often it is closed."""

    def __init__(self, definition: ModelDefinition) -> None:
        super().__init__(definition)
        self.closed = 0

    def close(self) -> None:
        """Count the close."""
        self.closed += 1


class ClosingProvider:
    """Registers the provider ``closing``, recording every client it builds.

    Args:
        gather: while fewer clients than this are built, a build waits (at most a
            second) for the others, so that concurrent loads that each build a
            client all get as far as the factory.
    """

    def __init__(self, gather: int = 1) -> None:
        self.built: list[ClosingClient] = []
        self._gather = gather
        self._lock = threading.Lock()
        self._all_building = threading.Event()

    def build(self, definition: ModelDefinition) -> ClosingClient:
        """Build a client and record it."""
        client = ClosingClient(definition)
        with self._lock:
            self.built.append(client)
            if len(self.built) >= self._gather:
                self._all_building.set()
        self._all_building.wait(timeout=1.0)
        return client

    @hookimpl
    def llmreg_register_providers(self, register: Any) -> None:
        register("closing", self.build)


@pytest.fixture
def closing(providers: Any) -> Iterator[ClosingProvider]:
    """A fresh ``closing`` provider on the default plugin manager."""
    plugin = ClosingProvider()
    with registered(plugin):
        yield plugin


@pytest.fixture
def gathering(providers: Any) -> Iterator[ClosingProvider]:
    """A ``closing`` provider whose builds wait for ``THREADS`` concurrent builds."""
    plugin = ClosingProvider(gather=THREADS)
    with registered(plugin):
        yield plugin


@pytest.fixture(scope="module")
def two_models(store: Any, providers: Any) -> list[str]:
    """The URIs of two models saved with the ``closing`` provider."""
    with registered(ClosingProvider()):
        saver = CustomSaver(experiment="cache")
        return [
            saver.save(ModelDefinition(provider="closing", model=name)).model_uri
            for name in ("first", "second")
        ]


def test_concurrent_misses_of_one_uri_build_one_client(
    gathering: ClosingProvider, two_models: list[str]
) -> None:
    start = threading.Barrier(THREADS)

    def load(_: int) -> Any:
        start.wait()
        return CustomLoader().load(two_models[0])

    with ThreadPoolExecutor(THREADS) as pool:
        adapters = list(pool.map(load, range(THREADS)))

    assert len(gathering.built) == 1
    assert all(a._predictor.client is gathering.built[0] for a in adapters)
    assert adapters[0].predict(["hi"]).predictions == ["echo: hi"]


def test_a_failed_load_is_not_cached() -> None:
    with pytest.raises(RuntimeError, match="broken"):
        MODEL_CACHE.model("key", _fail)
    client = ClosingClient(ModelDefinition(provider="echo", model="y"))
    assert MODEL_CACHE.model("key", lambda: client) is client


def _fail() -> Any:
    raise RuntimeError("broken")


def test_eviction_and_clear_close_the_dropped_client(
    closing: ClosingProvider, two_models: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MODEL_CACHE, "max_models", 1)
    first_uri, second_uri = two_models
    CustomLoader().load(first_uri)
    CustomLoader().load(second_uri)  # evicts the first
    first, second = closing.built
    assert (first.definition.model, second.definition.model) == ("first", "second")
    assert (first.closed, second.closed) == (1, 0)

    MODEL_CACHE.clear()
    assert (first.closed, second.closed) == (1, 1)
