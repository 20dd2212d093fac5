"""MlflowRegister against a real ``mlflow server`` over HTTP (proxied artifacts).

Every test runs twice: on a server with a sqlite backend, and on one backed by
a throwaway PostgreSQL cluster (skipped where PostgreSQL or psycopg2 is missing).

The same flows as tests/mlflow on the embedded store, plus what only a shared
server shows: 8 processes registering 8 contents under one name at once, and a
server that dies and comes back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmreg.errors import ModelNotFoundError, RegistrationError, StoreUnavailableError
from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg_mlflow import MlflowRegister
from support.mlflow_server import MlflowServer, mlflow_server_on, postgres_unavailable

pytestmark = pytest.mark.integration

ECHO_MODEL = Path(__file__).parents[1] / "mlflow" / "echo_model.py"
WRITERS = 8


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """One mlflow server per backend for the module; MLflow's URIs point at it.

    The PostgreSQL run is skipped, saying why, where PostgreSQL or psycopg2 is missing.
    """
    if request.param == "postgresql" and (why := postgres_unavailable()):
        pytest.skip(why)
    folder = tmp_path_factory.mktemp(f"mlflow-server-{request.param}")
    with (
        mlflow_server_on(request.param, folder) as running,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("MLFLOW_TRACKING_URI", running.url)
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        # The client's defaults retry a dead server for minutes; the tests want an answer.
        patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        patch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        patch.chdir(folder)
        yield running


@pytest.fixture
def name() -> str:
    return f"chat-{uuid.uuid4().hex[:10]}"


def log_model(content: str) -> Any:
    """Log the echo model over HTTP, with ``content_hash([content])`` in its metadata."""
    import mlflow

    with mlflow.start_run():
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(ECHO_MODEL),
            pip_requirements=["mlflow"],
            metadata={CONTENT_HASH_KEY: content_hash([content])},
        )


def in_new_process(server: MlflowServer, code: str) -> Any:
    """Run ``code`` in a fresh interpreter against the server; return its last JSON line."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def registered_names() -> list[str]:
    from mlflow import MlflowClient

    return sorted(m.name for m in MlflowClient().search_registered_models())


def test_register_over_http(server, name) -> None:
    import mlflow

    info = log_model("http-alpha")
    register = MlflowRegister(tags={"team": "nlp"}, model_tags={"owner": "me"}, description="d")
    version = register.register(name, info.model_uri)

    assert int(version.version) == 1
    assert version.status == "READY"
    assert version.tags == {"team": "nlp", CONTENT_HASH_KEY: content_hash(["http-alpha"])}
    model = mlflow.MlflowClient().get_registered_model(name)
    assert (model.tags, model.description) == ({"owner": "me"}, "d")
    assert mlflow.pyfunc.load_model(f"models:/{name}/1").predict(["hi"]) == ["hi"]


def test_idempotency_and_force_over_http(server, name) -> None:
    register = MlflowRegister()
    first = register.register(name, log_model("http-same").model_uri)
    again = register.register(name, log_model("http-same").model_uri)
    forced = register.register(name, log_model("http-same").model_uri, force=True)
    other = register.register(name, log_model("http-other").model_uri)

    assert [int(v.version) for v in (first, again, forced, other)] == [1, 1, 2, 3]
    assert [r.content_hash for r in register.versions(name)] == [
        content_hash(["http-same"]),
        content_hash(["http-same"]),
        content_hash(["http-other"]),
    ]


def test_alias_workflow_over_http_seen_from_another_process(server, name) -> None:
    register = MlflowRegister()
    for content in ("a", "b", "c"):
        register.register(name, log_model(f"{name}-{content}").model_uri)
    for version in (1, 2, 3):
        register.promote(name, version)

    rolled = in_new_process(
        server,
        "import json; from llmreg_mlflow import MlflowRegister;"
        f"v = MlflowRegister().rollback({name!r});"
        "print(json.dumps(int(v.version)))",
    )
    assert rolled == 2
    seen = in_new_process(
        server,
        "import json; from llmreg_mlflow import MlflowRegister;"
        f"r = MlflowRegister(); rows = r.versions({name!r});"
        f"print(json.dumps({{'history': [m.to_dict() for m in r.history({name!r})],"
        "'aliases': {row.version: list(row.aliases) for row in rows}}))",
    )
    assert [(m["action"], m["version"]) for m in seen["history"]] == [
        ("promote", 1),
        ("promote", 2),
        ("promote", 3),
        ("rollback", 2),
    ]
    assert seen["aliases"] == {"1": [], "2": ["champion"], "3": []}

    with pytest.raises(ModelNotFoundError):
        register.promote(name, 99)
    assert [list(r.aliases) for r in register.versions(name)] == [[], ["champion"], []]


@pytest.mark.parametrize(
    "model_uri", ["models:/m-0123456789abcdef0123456789abcdef", "runs:/0123456789abcdef/model"]
)
def test_typed_errors_over_http_leave_no_orphan(server, name, model_uri) -> None:
    before = registered_names()
    with pytest.raises(RegistrationError, match="does not exist or is not an MLflow model"):
        MlflowRegister().register(name, model_uri)
    assert registered_names() == before


def test_a_refused_first_version_over_http_leaves_no_orphan(server, name) -> None:
    info = log_model("http-refused")
    before = registered_names()
    with pytest.raises(RegistrationError):
        MlflowRegister(tags={"notes": "x" * 100_001}).register(name, info.model_uri)
    assert registered_names() == before


CONCURRENT_WRITER = """
import json, os, sys, time
from pathlib import Path
from llmreg_mlflow import MlflowRegister
folder, index, name, uri = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
register = MlflowRegister()
register.client()  # import mlflow before the start line, so that all start together
(folder / f"ready-{index}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
try:
    version = register.register(name, uri)
    print(json.dumps({"version": int(version.version), "error": None}))
except Exception as exc:
    print(json.dumps({"version": None, "error": f"{type(exc).__name__}: {exc}"}))
"""


def test_eight_processes_register_eight_contents_at_once(server, name, tmp_path) -> None:
    uris = [log_model(f"{name}-writer-{i}").model_uri for i in range(WRITERS)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_WRITER, str(tmp_path), str(i), name, uri],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, uri in enumerate(uris)
    ]
    try:
        deadline = time.monotonic() + 240
        while len(list(tmp_path.glob("ready-*"))) < WRITERS:
            assert all(w.poll() is None for w in writers), "a writer died before the start"
            assert time.monotonic() < deadline, "the writers did not get ready"
            time.sleep(0.05)
        (tmp_path / "go").touch()
        outputs = [w.communicate(timeout=300) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    assert [r["error"] for r in results] == [None] * WRITERS
    versions = sorted(r["version"] for r in results)
    assert versions == list(range(1, WRITERS + 1))
    rows = MlflowRegister().versions(name)
    assert sorted(r.content_hash for r in rows) == sorted(
        content_hash([f"{name}-writer-{i}"]) for i in range(WRITERS)
    )
    assert all(r.status == "READY" for r in rows)


def test_a_dead_server_is_store_unavailable_and_a_restart_recovers(server, name) -> None:
    register = MlflowRegister()
    register.register(name, log_model("before-crash").model_uri)
    server.kill()
    try:
        with pytest.raises(StoreUnavailableError, match="cannot be reached"):
            register.versions(name)
    finally:
        server.start()
    assert [r.version for r in register.versions(name)] == [1]
