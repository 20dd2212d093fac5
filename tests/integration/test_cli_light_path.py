"""The CLI's light path against a real ``mlflow server`` (issue 16).

The reading commands (``versions``, ``list``, ``history``) answer through the
plugin's ``CliSetup.reader`` (llmreg_mlflow.rest.cli_reader) without importing
mlflow, and ``versions``/``list`` without pydantic either; ``delete`` goes over REST;
the loader's alias lookup (what the serving app's poll asks) takes one REST request.
Every answer is compared with MLflow's own client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from support.cli_run import run_cli_json
from support.echo_versions import log_echo_versions
from support.mlflow_server import MlflowServer, running_mlflow_server

#: Runs the CLI with ARGS in a fresh interpreter; says which heavy modules got imported.
RUN_CLI = """
import atexit, sys
atexit.register(lambda: print(
    "IMPORTED", ",".join(m for m in ("mlflow", "pydantic") if m in sys.modules), file=sys.stderr
))
from llmreg.cli import main
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    import mlflow

    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-light")) as running:
        yield running
    mlflow.set_tracking_uri(None)  # later modules read MLFLOW_TRACKING_URI again


def _registered(server: MlflowServer, versions: int = 2) -> str:
    """A new registered model with ``versions`` versions; the last one at @champion."""
    from llmreg_mlflow import MlflowRegister

    name = f"light-{uuid.uuid4().hex[:8]}"
    register = MlflowRegister(tracking_uri=server.url, registry_uri=server.url)
    hashes = [f"sha256:{name}-{number}" for number in range(versions)]
    log_echo_versions(server.url, register, name, hashes)
    register.promote(name, versions)
    return name


@pytest.fixture(scope="module")
def model(server: MlflowServer) -> str:
    return _registered(server)


def llmreg(server: MlflowServer, *args: str, rest: bool = True) -> tuple[int, Any, set[str]]:
    """Run ``llmreg ARGS --json`` in a fresh process on the server, as a user would (no
    test plugin); return (exit code, JSON, the heavy modules imported)."""
    plugins = {"LLMREG_DISABLE_PLUGINS": "llmreg-example,llmreg-broken,llmreg-incompatible"}
    done = run_cli_json(server.url, RUN_CLI, *args, rest=rest, env=plugins)
    line = next(x for x in done.stderr.splitlines() if x.startswith("IMPORTED"))
    imported = set(filter(None, line.removeprefix("IMPORTED").strip().split(",")))
    return done.returncode, json.loads(done.stdout), imported


def test_versions_and_list_import_neither_mlflow_nor_pydantic(server, model):
    code, light, imported = llmreg(server, "versions", model)
    assert code == 0, light
    assert imported == set()
    # the same answer as the built register (a field makes the CLI build and validate
    # it) and as MLflow's client
    code, built, imported_built = llmreg(
        server, "--register", '{"KIND": "MlflowRegister", "history_limit": 50}', "versions", model
    )
    assert code == 0 and "pydantic" in imported_built
    code, native, imported_native = llmreg(server, "versions", model, rest=False)
    assert code == 0 and "mlflow" in imported_native
    assert light["versions"] == built["versions"] == native["versions"]
    assert [v["version"] for v in light["versions"]] == [1, 2]
    assert light["versions"][1]["aliases"] == ["champion"]

    code, listed, imported = llmreg(server, "list")
    assert code == 0 and imported == set()
    mine = next(m for m in listed["models"] if m["name"] == model)
    assert mine["latest_version"] == 2 and mine["aliases"] == {"champion": 2}


def test_history_over_the_light_path_matches_mlflows_client(server, model):
    code, light, imported = llmreg(server, "history", model)
    assert code == 0 and "mlflow" not in imported
    code, native, _ = llmreg(server, "history", model, rest=False)
    assert code == 0
    assert light["moves"] == native["moves"]
    assert [m["version"] for m in light["moves"]] == [2]


def test_light_path_errors_are_typed(server, model):
    code, out, imported = llmreg(server, "versions", f"{model}-missing")
    assert code == 1 and out["error"]["type"] == "ModelNotFoundError"
    assert f"{model}-missing" in out["error"]["message"] and imported == set()
    code, out, _ = llmreg(server, "versions", "bad/name")
    assert code == 1 and out["error"]["type"] == "InvalidModelURIError"
    # a config the reader does not handle is built and validated by pydantic
    code, out, _ = llmreg(
        server, "--register", '{"KIND": "MlflowRegister", "history_limit": 0}', "versions", model
    )
    assert code == 1 and out["error"]["type"] == "ConfigError"


def test_delete_goes_over_rest(server):
    from mlflow import MlflowClient

    name = _registered(server, versions=3)
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)

    code, out, imported = llmreg(server, "delete", name, "3")
    assert code == 1 and out["error"]["type"] == "RegistrationError"
    assert "@champion" in out["error"]["message"] and "mlflow" not in imported
    assert client.get_model_version_by_alias(name, "champion").version == "3"

    code, out, imported = llmreg(server, "delete", name, "1")
    assert code == 0 and "mlflow" not in imported
    assert out["deleted"]["version"] == 1 and out["deleted"]["aliases"] == []

    code, out, imported = llmreg(server, "delete", name, "3", "--force")
    assert code == 0 and "mlflow" not in imported
    assert out["deleted"]["aliases"] == ["champion"]
    left = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
    assert left == [2]
    assert "champion" not in client.get_registered_model(name).aliases

    code, out, _ = llmreg(server, "delete", name, "9")
    assert code == 1 and out["error"]["type"] == "ModelNotFoundError"


def test_the_loaders_alias_lookup_takes_one_rest_request(server, monkeypatch):
    """resolve_alias (the pyfunc loader's lookup, which the serving app's poll repeats)
    asks RestRegistry.alias_version against a server, and answers as MLflow's client."""
    from llmreg.errors import ModelNotFoundError
    from llmreg_mlflow import MlflowRegister
    from llmreg_mlflow.rest import RestRegistry
    from llmreg_mlflow.store.resolve import open_store, resolve_alias

    name = _registered(server, versions=2)
    asked: list[tuple[str, str]] = []
    original = RestRegistry.alias_version

    def spy(self: RestRegistry, model: str, alias: str) -> int:
        asked.append((model, alias))
        return original(self, model, alias)

    monkeypatch.setattr(RestRegistry, "alias_version", spy)
    monkeypatch.setenv("LLMREG_MLFLOW_REST", "1")
    store = open_store(server.url, server.url)
    assert resolve_alias(store, name, "champion") == 2
    MlflowRegister(tracking_uri=server.url).promote(name, 1)
    assert resolve_alias(store, name, "champion") == 1
    assert asked == [(name, "champion"), (name, "champion")]

    with pytest.raises(ModelNotFoundError, match=r"alias @nope .* does not exist"):
        resolve_alias(store, name, "nope")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_alias(store, f"{name}-missing", "champion")

    # MLflow's client gives the same answer without the REST path
    monkeypatch.setenv("LLMREG_MLFLOW_REST", "0")
    asked.clear()
    assert resolve_alias(store, name, "champion") == 1
    assert asked == []


def test_the_rest_registry_answers_several_threads_at_once(server, model):
    """Requests from several threads run at once, each on a connection of its own, and
    every one gets the whole answer (versions asks for the model and its versions at
    once); the connections are kept for the next requests and closed by close()."""
    from concurrent.futures import ThreadPoolExecutor

    from llmreg_mlflow.rest import RestRegistry

    registry = RestRegistry(server.url)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: registry.versions(model), range(32)))
        assert all(a == answers[0] for a in answers)
        assert [ref.version for ref in answers[0]] == [1, 2]
        assert answers[0][1].aliases == ("champion",)
        assert 2 <= len(registry._idle) <= 16
    finally:
        registry.close()
    assert registry._idle == []
