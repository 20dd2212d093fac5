"""Fixtures for the Spark suite: one local[2] SparkSession, a sqlite MLflow store, the fake
OpenAI endpoint, and a registered model ``chat@champion`` whose key is an ``env:`` reference.

A SparkSession takes seconds to start: every fixture here is module- or session-scoped.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.openai_server import FakeOpenAIServer

KEY_ENV = "LLMREG_SPARK_TEST_KEY"
KEY = "sk-spark-canary-5d1e9f3a7b"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the suite, with the reason, where no java runs Spark."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        skip = pytest.mark.skip(reason="no java: install openjdk-17-jre-headless (.ci/run does)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def key() -> str:
    """The secret the model's ``env:`` reference resolves to."""
    return KEY


@pytest.fixture(scope="session")
def endpoint() -> Iterator[FakeOpenAIServer]:
    """The fake OpenAI endpoint, shared by the session."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real sqlite store; the key is in the environment (driver and executors inherit it)."""
    root = tmp_path_factory.mktemp("spark-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv(KEY_ENV, KEY)
        mp.chdir(root)
        yield root


@pytest.fixture(scope="session")
def spark(store: Path) -> Iterator[Any]:
    """One ``local[2]`` SparkSession for the whole suite."""
    from pyspark.sql import SparkSession

    (store / "spark-events").mkdir(exist_ok=True)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("llmreg-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", str(store / "spark-events"))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def champion(endpoint: FakeOpenAIServer, store: Path) -> str:
    """``models:/chat@champion``: an openai model on the fake endpoint, key ``env:...``."""
    from llmreg.definition import ModelDefinition
    from llmreg.manager import get_plugin_manager

    manager = get_plugin_manager()
    definition = ModelDefinition(
        provider="openai",
        model="spark-model",
        base_url=endpoint.base_url,
        api_key=f"env:{KEY_ENV}",
        max_retries=0,
        concurrency=4,
    )
    saved = manager.saver().save(definition)
    register = manager.register()
    ref = register.register("chat", saved.uri)
    register.promote("chat", ref.version, "champion")
    return "models:/chat@champion"
