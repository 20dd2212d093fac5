"""Fixtures of the reliability suite, and its summary at the end of the run.

- ``store``: a fresh sqlite MLflow store in ``tmp_path`` (see :mod:`reliability.stores`).
- ``fake_openai``: a real OpenAI-compatible server on 127.0.0.1 (``support.openai_server``).
- ``mlflow_server``: one real ``mlflow server`` for the session (``support.mlflow_server``).
- ``api_key``: a random key in :data:`reliability.models.KEY_VAR` for the test.

Plugins that exist only to be broken (llmreg-broken, llmreg-incompatible) are
blocked, as the tox envs do, so that the default plugin manager loads cleanly
where they happen to be installed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability import tally
from reliability.models import KEY_VAR
from reliability.stores import Store, use_store

from support.mlflow_server import MlflowServer
from support.openai_server import FakeOpenAIServer

os.environ.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh sqlite MLflow store in ``tmp_path``, made MLflow's tracking and registry store."""
    with use_store(tmp_path) as active:
        yield active


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A random API key in the environment variable the suite's definitions reference."""
    key = f"sk-test-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_VAR, key)
    return key


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-compatible endpoint on loopback; ``fault-hang`` ends after 5 s."""
    with FakeOpenAIServer(hang_seconds=5.0) as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server`` (1 worker, sqlite, proxied artifacts) for the session."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print one line per group the suite ran: bad inputs, faults, load, secrets."""
    lines = tally.summary_lines()
    if not lines:
        return
    terminalreporter.section("llmreg reliability summary")
    for line in lines:
        terminalreporter.write_line(line)
