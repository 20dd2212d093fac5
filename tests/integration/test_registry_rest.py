"""The registry commands against a real ``mlflow server`` over MLflow's REST API, without
importing mlflow (llmreg_mlflow.rest), checked against MLflow's own client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from support.cli_run import run_cli_json
from support.echo_versions import log_echo_versions
from support.mlflow_server import MlflowServer, running_mlflow_server

#: Runs the CLI with ARGS in a fresh interpreter; prints whether mlflow got imported.
RUN_CLI = """
import atexit, sys
atexit.register(lambda: print("MLFLOW_IMPORTED", "mlflow" in sys.modules, file=sys.stderr))
from llmreg.cli import main
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-rest")) as running:
        yield running


@pytest.fixture(scope="module")
def model(server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registered model with two versions, version 1 at @champion after 2 -> 1 moves."""
    from llmreg_mlflow import MlflowRegister

    name = f"rest-{uuid.uuid4().hex[:8]}"
    register = MlflowRegister(tracking_uri=server.url)
    hashes = [f"sha256:{content * 8}" for content in ("one", "two")]
    log_echo_versions(server.url, register, name, hashes)
    register.promote(name, 2)
    register.promote(name, 1)
    return name


def llmreg(server: MlflowServer, *args: str, rest: bool = True) -> tuple[int, Any, bool]:
    """Run ``llmreg ARGS --json`` in a fresh process on the server; return (exit code,
    JSON, whether mlflow was imported)."""
    done = run_cli_json(server.url, RUN_CLI, *args, rest=rest)
    imported = "MLFLOW_IMPORTED True" in done.stderr
    return done.returncode, json.loads(done.stdout), imported


def test_versions_over_rest_match_mlflows_client_without_importing_mlflow(server, model):
    code, fast, imported = llmreg(server, "versions", model)
    assert code == 0 and imported is False
    code, slow, imported = llmreg(server, "versions", model, rest=False)
    assert code == 0 and imported is True
    assert fast["versions"] == slow["versions"]
    assert [(v["version"], v["aliases"]) for v in fast["versions"]] == [(1, ["champion"]), (2, [])]
    assert fast["versions"][0]["content_hash"] == "sha256:" + "one" * 8


def test_history_and_list_over_rest(server, model):
    code, out, imported = llmreg(server, "history", model)
    assert code == 0 and not imported
    assert [(m["version"], m["previous"]) for m in out["moves"]] == [(2, None), (1, 2)]
    _, slow, _ = llmreg(server, "history", model, rest=False)
    assert [(m["version"], m["previous"], m["at"]) for m in slow["moves"]] == [
        (m["version"], m["previous"], m["at"]) for m in out["moves"]
    ]
    code, listed, imported = llmreg(server, "list")
    assert code == 0 and not imported
    [row] = [m for m in listed["models"] if m["name"] == model]
    assert row["latest_version"] == 2 and row["aliases"] == {"champion": 1}


def test_tag_and_describe_over_rest(server, model):
    from mlflow import MlflowClient

    code, out, imported = llmreg(server, "tag", model, "2", "team=nlp")
    assert code == 0 and not imported and out["version"]["tags"]["team"] == "nlp"
    code, out, imported = llmreg(server, "describe", model, "2", "second")
    assert code == 0 and not imported and out["version"]["description"] == "second"
    found = MlflowClient(server.url).get_model_version(model, "2")
    assert found.tags["team"] == "nlp" and found.description == "second"


def test_errors_over_rest_are_typed(server, model):
    code, out, imported = llmreg(server, "versions", f"{model}-missing")
    assert code == 1 and not imported
    assert out["error"]["type"] == "ModelNotFoundError"
    assert "does not exist" in out["error"]["message"]
    code, out, _ = llmreg(server, "tag", model, "9", "a=b")
    assert code == 1 and out["error"]["type"] == "ModelNotFoundError"


def test_an_unreachable_server_is_store_unavailable(server):
    from llmreg.errors import StoreUnavailableError
    from llmreg_mlflow.rest import RestRegistry

    closed = MlflowServer(server.folder / "unused")  # a free port nobody listens on
    with pytest.raises(StoreUnavailableError, match="cannot be reached"):
        RestRegistry(closed.url).versions("x")


def test_promote_and_rollback_over_rest_keep_the_same_trail(server, model):
    """promote and rollback without importing mlflow; MLflow's client reads the same
    alias, and the REST history equals the MLflow-client history."""
    from mlflow import MlflowClient

    code, moved, imported = llmreg(server, "promote", model, "2", "--alias", "canary")
    assert code == 0 and not imported
    assert (moved["version"], moved["previous"]) == (2, None)
    code, moved, _ = llmreg(server, "promote", model, "1", "--alias", "canary")
    assert code == 0 and (moved["version"], moved["previous"]) == (1, 2)
    code, back, imported = llmreg(server, "rollback", model, "--alias", "canary")
    assert code == 0 and not imported and back["version"] == 2
    assert MlflowClient(server.url).get_registered_model(model).aliases["canary"] == "2"
    _, fast, _ = llmreg(server, "history", model, "--alias", "canary")
    _, slow, _ = llmreg(server, "history", model, "--alias", "canary", rest=False)
    assert fast["moves"] == slow["moves"]
    assert [(m["version"], m["action"]) for m in fast["moves"]] == [
        (2, "promote"),
        (1, "promote"),
        (2, "rollback"),
    ]
    code, missing, _ = llmreg(server, "promote", model, "9", "--alias", "canary")
    assert code == 1 and missing["error"]["type"] == "ModelNotFoundError"
    assert MlflowClient(server.url).get_registered_model(model).aliases["canary"] == "2"


def test_rest_history_is_bounded_like_mlflows(server, model):
    """history_limit prunes the oldest move tags over REST too."""
    from llmreg_mlflow import MlflowRegister

    register = MlflowRegister(tracking_uri=server.url, history_limit=2)
    for version in (1, 2, 1, 2):
        register.promote(model, version, "bounded")
    moves = register.history(model, "bounded")
    assert [m.version for m in moves] == [1, 2]
