"""The loaded-model cache: one load per key under concurrency, leased clients, closing."""

from __future__ import annotations

import gc
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mlflow
import pytest

from llmreg import hookimpl
from llmreg.definition import ModelDefinition
from llmreg.testing import EchoClient, registered
from llmreg_pyfunc import CustomLoader, CustomSaver
from llmreg_pyfunc.cache import MODEL_CACHE, ModelCache

THREADS = 8


class ClosingClient(EchoClient):
    """An echo client that counts how often it is closed, and refuses to answer once closed."""

    def __init__(self, definition: ModelDefinition) -> None:
        super().__init__(definition)
        self.closed = 0

    def complete(self, request: Any) -> Any:
        """Echo, unless closed."""
        if self.closed:
            raise RuntimeError("client is closed")
        return super().complete(request)

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
            saver.save(ModelDefinition(provider="closing", model=name)).uri
            for name in ("first", "second")
        ]


@pytest.fixture(scope="module")
def many_folders(two_models: list[str], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """34 local copies of one saved model: 34 models to the cache (its limit is 32)."""
    root = tmp_path_factory.mktemp("many")
    source = Path(mlflow.artifacts.download_artifacts(two_models[0], dst_path=str(root / "src")))
    folders = []
    for index in range(MODEL_CACHE.max_models + 2):
        target = root / f"model-{index:02d}"
        shutil.copytree(source, target)
        folders.append(str(target))
    return folders


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
    assert all(a.client is gathering.built[0] for a in adapters)
    assert adapters[0].predict(["hi"]).predictions == ["echo: hi"]
    for adapter in adapters:
        adapter.close()


def test_a_failed_load_is_not_cached() -> None:
    cache: ModelCache[ClosingClient] = ModelCache()
    with pytest.raises(RuntimeError, match="broken"):
        cache.lease("key", _fail)
    client = ClosingClient(ModelDefinition(provider="echo", model="y"))
    lease = cache.lease("key", lambda: client)
    assert lease.model is client
    assert cache.leases("key") == 1
    lease.release()
    lease.release()  # twice is harmless
    assert cache.leases("key") == 0
    assert client.closed == 0  # still cached


def _fail() -> Any:
    raise RuntimeError("broken")


def test_a_model_is_closed_when_dropped_and_unleased_in_either_order() -> None:
    cache: ModelCache[ClosingClient] = ModelCache(max_models=1)
    first = ClosingClient(ModelDefinition(provider="echo", model="a"))
    second = ClosingClient(ModelDefinition(provider="echo", model="b"))
    one, two = cache.lease("a", lambda: first), cache.lease("a", lambda: second)
    assert two.model is first  # a hit: the same model, a second lease
    cache.lease("b", lambda: second).release()  # evicts "a", which is leased twice
    assert first.closed == 0
    one.release()
    assert first.closed == 0
    two.release()
    assert first.closed == 1
    cache.clear()  # "b" is cached and unleased: closed now
    assert second.closed == 1


def test_eviction_and_clear_close_the_dropped_client(
    closing: ClosingProvider, two_models: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MODEL_CACHE, "max_models", 1)
    first_uri, second_uri = two_models
    CustomLoader().load(first_uri).close()
    second_adapter = CustomLoader().load(second_uri)  # evicts the first
    first, second = closing.built
    assert (first.definition.model, second.definition.model) == ("first", "second")
    assert (first.closed, second.closed) == (1, 0)

    MODEL_CACHE.clear()
    assert (first.closed, second.closed) == (1, 0)  # its adapter still holds it
    second_adapter.close()
    assert (first.closed, second.closed) == (1, 1)


def test_an_adapter_dropped_without_close_gives_its_lease_back(
    closing: ClosingProvider, two_models: list[str]
) -> None:
    adapter = CustomLoader().load(two_models[0])
    (client,) = closing.built
    MODEL_CACHE.clear()
    assert client.closed == 0
    del adapter
    gc.collect()
    assert client.closed == 1


def test_a_host_keeping_more_models_than_the_cache_predicts_through_all(
    closing: ClosingProvider, many_folders: list[str]
) -> None:
    """More models alive than the cache keeps: the evicted ones keep their clients."""
    loader = CustomLoader()
    adapters = [loader.load(folder) for folder in many_folders]
    assert len(closing.built) == len(many_folders)
    assert len(MODEL_CACHE) == MODEL_CACHE.max_models  # the two oldest were evicted
    assert [c.closed for c in closing.built] == [0] * len(many_folders)

    oldest = adapters[0].predict(["still here"])
    assert oldest.predictions == ["echo: still here"]
    assert oldest.rows[0].metadata["model_uri"] == many_folders[0]

    for adapter in adapters:
        adapter.close()
    # the evicted ones close with their last lease; the cached ones stay open for reuse
    assert [c.closed for c in closing.built[:2]] == [1, 1]
    assert [c.closed for c in closing.built[2:]] == [0] * MODEL_CACHE.max_models
    MODEL_CACHE.clear()
    assert [c.closed for c in closing.built] == [1] * len(many_folders)


def test_two_adapters_of_one_model_share_its_client_until_the_last_closes(
    closing: ClosingProvider, two_models: list[str]
) -> None:
    loader = CustomLoader()
    one, two = loader.load(two_models[0]), loader.load(two_models[0])
    assert one.client is two.client
    MODEL_CACHE.clear()
    one.close()
    one.close()  # a second close releases nothing more
    assert two.predict(["ok"]).predictions == ["echo: ok"]
    assert closing.built[0].closed == 0
    two.close()
    assert closing.built[0].closed == 1
