"""Fixtures for the llmreg-llamacpp suite: a real llama.cpp server with the real Gemma model.

The model cache goes to a folder of the test session (``LLMREG_CACHE_DIR``), so the
suite never writes to the home folder; subprocesses inherit it. Most tests share one
session client (one server); tests about the server's life use other settings, so
that their server is their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmreg import ModelDefinition
from llmreg.testing import isolated_manager
from llmreg_llamacpp import plugin
from llmreg_llamacpp.discovery import CACHE_ENV
from llmreg_llamacpp.provider import LlamaCppClient

#: The definition most tests use: the default model, few tokens so each call is short
#: (about 0.3 s each), and a long timeout so that a busy CI machine causes no retry.
DEFINITION: dict[str, Any] = {
    "provider": "llamacpp",
    "model": "gemma-3-270m",
    "max_tokens": 16,
    "timeout": 300,
}

MakeDefinition = Callable[..., ModelDefinition]
NewClient = Callable[[ModelDefinition], LlamaCppClient]


def _definition(**fields: Any) -> ModelDefinition:
    return ModelDefinition.model_validate({**DEFINITION, **fields})


def _build(definition: ModelDefinition) -> LlamaCppClient:
    client = isolated_manager(plugin).client(definition)
    assert isinstance(client, LlamaCppClient)
    return client


@pytest.fixture(scope="session", autouse=True)
def llmreg_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the model cache at a folder of this session."""
    root = tmp_path_factory.mktemp("llmreg-cache")
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(root)
    yield root
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="session")
def make_definition() -> MakeDefinition:
    """``make_definition(**fields)``: the suite's definition with ``fields`` set."""
    return _definition


@pytest.fixture
def new_client() -> Iterator[NewClient]:
    """``new_client(definition)``: a client built through the plugin, closed after the test."""
    made: list[LlamaCppClient] = []

    def build(definition: ModelDefinition) -> LlamaCppClient:
        client = _build(definition)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def shared_client(llmreg_cache: Path) -> Iterator[LlamaCppClient]:
    """One client on the default settings, with its server, for the whole session."""
    client = _build(_definition())
    yield client
    client.close()


def _children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="session")
def child_pids() -> Callable[[], set[int]]:
    """``child_pids()``: the ids of this process's child processes (Linux /proc)."""
    return _children


@pytest.fixture(scope="session")
def pid_alive() -> Callable[[int], bool]:
    """``pid_alive(pid)``: whether that process exists (a zombie counts as gone)."""
    return _alive
