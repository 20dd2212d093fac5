"""Faults of the store: a saved model corrupted on disk, and ``mlflow server`` killed mid-call.

Corrupted models are saved and registered for real, then one file is deleted
or edited on disk; loading must raise the unsupported-format or not-found error.

The server tests run against a real ``mlflow server`` (``support.mlflow_server``)
and SIGKILL it at a chosen point of a save and of a register: the test wraps
the real MLflow call that reaches that point (artifact upload, version
creation) so that the kill happens first and the real call then meets a dead
server. The caller must get a typed error; after a restart on the same store
nothing is half-written (no run left RUNNING, no version that is not READY)
and a retry succeeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability import tally
from reliability.models import KEY_VAR, definition, load, register, save
from reliability.stores import Store, use_store

from llmreg.errors import (
    LlmregError,
    ModelNotFoundError,
    StoreUnavailableError,
    UnsupportedModelFormatError,
)
from support.mlflow_server import MlflowServer

#: Seconds a test that starts servers or processes may take on a loaded 2-core machine.
SLOW_TEST_TIMEOUT = 900

# --- corrupted saved models ------------------------------------------------------------


def _delete_config(model_dir: Path) -> None:
    (model_dir / "artifacts" / "model_definition.json").unlink()


def _truncate_config(model_dir: Path) -> None:
    path = model_dir / "artifacts" / "model_definition.json"
    path.write_text(path.read_text()[:20], encoding="utf-8")


def _garbage_mlmodel(model_dir: Path) -> None:
    (model_dir / "MLmodel").write_text("flavors: {python_function: [unclosed\n", encoding="utf-8")


def _unmark_mlmodel(model_dir: Path) -> None:
    path = model_dir / "MLmodel"
    path.write_text(path.read_text().replace("llmreg_format", "other_format"), encoding="utf-8")


def _no_flavor_mlmodel(model_dir: Path) -> None:
    path = model_dir / "MLmodel"
    path.write_text(path.read_text().replace("python_function", "sklearn"), encoding="utf-8")


def _delete_mlmodel(model_dir: Path) -> None:
    (model_dir / "MLmodel").unlink()


CORRUPTIONS: list[tuple[str, Callable[[Path], None], str]] = [
    ("config-deleted", _delete_config, "missing"),
    ("config-truncated", _truncate_config, "unreadable model definition"),
    ("mlmodel-garbage-yaml", _garbage_mlmodel, "MLmodel"),
    ("mlmodel-marker-removed", _unmark_mlmodel, "CustomSaver"),
    ("mlmodel-flavor-changed", _no_flavor_mlmodel, "python_function"),
    ("mlmodel-deleted", _delete_mlmodel, "MLmodel"),
]


@pytest.fixture(scope="module")
def corrupt_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One sqlite store for the corrupted models of this module."""
    with (
        pytest.MonkeyPatch.context() as patch,
        use_store(tmp_path_factory.mktemp("corrupt")) as store,
    ):
        patch.setenv(KEY_VAR, "sk-corrupt-key")
        yield store


def _model_dir(store: Store, model_uri: str) -> Path:
    model_id = model_uri.removeprefix("models:/")
    found = [p.parent for p in store.artifact_root.rglob("MLmodel") if model_id in str(p)]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    "corrupt, contains", [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS]
)
def test_a_corrupted_model_fails_to_load_with_a_typed_error(
    corrupt: Callable[[Path], None], contains: str, corrupt_store: Store
) -> None:
    """Loading raises UnsupportedModelFormatError or ModelNotFoundError naming the problem."""
    name = f"corrupt-{uuid.uuid4().hex[:8]}"
    uri = save(definition("http://127.0.0.1:9/v1", "corrupt-model", system_prompt=name))
    assert register(name, uri) == 1
    corrupt(_model_dir(corrupt_store, uri))
    with pytest.raises(LlmregError) as info:
        load(f"models:/{name}/1")
    typed = isinstance(info.value, UnsupportedModelFormatError | ModelNotFoundError)
    tally.note("faults", tried=1, typed=int(typed))
    assert typed, repr(info.value)
    assert contains.lower() in str(info.value).lower()


# --- mlflow server killed ----------------------------------------------------------------


@pytest.fixture
def on_server(mlflow_server: MlflowServer, tmp_path: Path) -> Iterator[Store]:
    """Point MLflow at the session's server; its HTTP client gives up fast on a dead server."""
    with pytest.MonkeyPatch.context() as patch, use_store(tmp_path, mlflow_server.url) as store:
        patch.setenv(KEY_VAR, "sk-server-key")
        patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        patch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        yield store
    if not mlflow_server.running:
        mlflow_server.start()


def _kill_first(
    patch: pytest.MonkeyPatch, owner: Any, method: str, server: MlflowServer
) -> list[int]:
    """Wrap ``owner.method``: the first call kills the server, then runs the real method."""
    original = getattr(owner, method)
    kills: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kills:
            kills.append(1)
            server.kill()
        return original(*args, **kwargs)

    patch.setattr(owner, method, wrapper)
    return kills


def _server_state(server: MlflowServer) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Every run's status, and every (name, version, status), read from the server."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL)
    statuses = {r.info.run_id: str(r.info.status) for r in runs}
    versions = [(v.name, str(v.version), str(v.status)) for v in client.search_model_versions()]
    return statuses, versions


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_server_killed_during_a_save(on_server: Store, mlflow_server: MlflowServer) -> None:
    """A save whose artifact upload meets a killed server raises a typed error; after a restart
    its run is not FINISHED (nothing looks complete), and a retry saves and registers."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    model = definition("http://127.0.0.1:9/v1", f"save-kill-{uuid.uuid4().hex[:8]}")
    runs_before, _ = _server_state(mlflow_server)
    with pytest.MonkeyPatch.context() as patch:
        kills = _kill_first(patch, HttpArtifactRepository, "log_artifacts", mlflow_server)
        with pytest.raises(Exception) as info:
            save(model)
    typed = isinstance(info.value, StoreUnavailableError)
    tally.note("faults", tried=1, typed=int(typed))
    assert kills == [1], "the save never reached its artifact upload"
    mlflow_server.start()
    runs_after, _ = _server_state(mlflow_server)
    failed_run = {r: s for r, s in runs_after.items() if r not in runs_before}
    name = f"after-save-kill-{uuid.uuid4().hex[:8]}"
    retried = register(name, save(model))
    assert typed, f"untyped {type(info.value).__module__}.{type(info.value).__name__}: {info.value}"
    assert len(failed_run) == 1 and "FINISHED" not in failed_run.values(), failed_run
    assert retried == 1


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_server_killed_during_a_register(on_server: Store, mlflow_server: MlflowServer) -> None:
    """A register whose version creation meets a killed server raises a typed error; after a
    restart no version is half-registered and a retry creates exactly one READY version."""
    from mlflow import MlflowClient

    uri = save(definition("http://127.0.0.1:9/v1", f"reg-kill-{uuid.uuid4().hex[:8]}"))
    name = f"register-kill-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        kills = _kill_first(patch, MlflowClient, "create_model_version", mlflow_server)
        with pytest.raises(Exception) as info:
            register(name, uri)
    typed = isinstance(info.value, StoreUnavailableError)
    tally.note("faults", tried=1, typed=int(typed))
    assert kills == [1], "the register never reached its version creation"
    mlflow_server.start()
    _, versions = _server_state(mlflow_server)
    mine = [v for v in versions if v[0] == name]
    assert typed, f"{type(info.value).__module__}.{type(info.value).__name__}: {info.value}"
    assert all(status == "READY" for _, _, status in mine), mine
    version = register(name, uri)
    _, versions = _server_state(mlflow_server)
    assert [v for v in versions if v[0] == name] == [(name, str(version), "READY")]
