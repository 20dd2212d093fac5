"""The registry workflow on a real sqlite MLflow store: MlflowRegister's models, set_tags,
describe and delete, the CLI commands over them (in-process), and ``models:/name/latest``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from llmreg.cli import cli
from llmreg.errors import ModelNotFoundError, RegistrationError, RegistrationInputError
from llmreg.hashing import CONTENT_HASH_KEY
from llmreg.uris import parse_model_uri
from llmreg_mlflow import MlflowRegister
from llmreg_mlflow.store.resolve import locate, open_store, resolve_alias


@pytest.fixture
def two_versions(name, log_model) -> str:
    register = MlflowRegister()
    for content in ("first", "second"):
        register.register(name, log_model(f"{name}-{content}").model_uri)
    return name


def llmreg(*args: str) -> dict:
    """Run ``llmreg ARGS --json`` in-process; return its JSON (any exit code)."""
    done = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    data = json.loads(done.stdout)
    data["_exit"] = done.exit_code
    return data


def test_list_names_each_model_with_latest_version_and_aliases(two_versions) -> None:
    MlflowRegister().promote(two_versions, 1, "champion")
    out = llmreg("list")
    assert out["_exit"] == 0
    [row] = [m for m in out["models"] if m["name"] == two_versions]
    assert row["latest_version"] == 2
    assert row["aliases"] == {"champion": 1}
    assert not any(k.startswith("llmreg.alias_") for k in row["tags"])  # the trail is hidden


def test_tag_sets_json_values_as_strings_and_keeps_others(two_versions) -> None:
    out = llmreg("tag", two_versions, "2", "team=nlp", "stage=qa")
    assert out["_exit"] == 0
    assert out["version"]["version"] == 2
    tags = MlflowClient().get_model_version(two_versions, "2").tags
    assert tags["team"] == "nlp" and tags["stage"] == "qa"
    ref = MlflowRegister().set_tags(two_versions, 2, {"n": 3})
    assert ref.tags["n"] == "3" and ref.tags["team"] == "nlp"
    with pytest.raises(RegistrationInputError):
        MlflowRegister().set_tags(two_versions, 2, {CONTENT_HASH_KEY: "x"})
    with pytest.raises(ModelNotFoundError):
        MlflowRegister().set_tags(two_versions, 9, {"a": "b"})


def test_describe_sets_the_version_description(two_versions) -> None:
    out = llmreg("describe", two_versions, "1", "the first one")
    assert out["_exit"] == 0 and out["version"]["description"] == "the first one"
    assert MlflowClient().get_model_version(two_versions, "1").description == "the first one"


def test_delete_is_refused_while_an_alias_holds_it_unless_forced(two_versions) -> None:
    MlflowRegister().promote(two_versions, 2, "champion")
    refused = llmreg("delete", two_versions, "2")
    assert refused["_exit"] == 1
    assert refused["error"]["type"] == "RegistrationError"
    assert "@champion" in refused["error"]["message"]
    assert MlflowClient().get_model_version(two_versions, "2")  # still there
    plain = llmreg("delete", two_versions, "1")
    assert plain["_exit"] == 0 and plain["deleted"]["version"] == 1
    forced = llmreg("delete", two_versions, "2", "--force")
    assert forced["_exit"] == 0 and forced["deleted"]["aliases"] == ["champion"]
    assert MlflowRegister().versions(two_versions) == []
    with pytest.raises(RegistrationError):
        MlflowRegister().rollback(two_versions)


def test_history_command_lists_moves(two_versions) -> None:
    for version in (1, 2):
        MlflowRegister().promote(two_versions, version)
    out = llmreg("history", two_versions)
    assert [(m["version"], m["previous"], m["action"]) for m in out["moves"]] == [
        (1, None, "promote"),
        (2, 1, "promote"),
    ]


def test_models_latest_resolves_to_the_highest_version(two_versions, name) -> None:
    store = open_store()
    assert resolve_alias(store, two_versions, "latest") == 2
    located = locate(store, parse_model_uri(f"models:/{two_versions}/latest"))
    assert located.version == 2
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_alias(store, f"{name}-missing", "latest")


def test_rest_is_chosen_like_the_store_uris(monkeypatch) -> None:
    """The REST path is used exactly when the registry MlflowRegister talks to is http(s)."""
    from llmreg_mlflow.rest import rest_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "http://registry:5000")
    assert rest_uri() == "http://registry:5000"
    assert rest_uri(tracking_uri="sqlite:///x.db") is None  # the register's own URI wins
    assert rest_uri(registry_uri="https://r") == "https://r"
    monkeypatch.delenv("MLFLOW_REGISTRY_URI")
    assert rest_uri() == "http://tracking:5000"
    monkeypatch.setenv("LLMREG_MLFLOW_REST", "0")
    assert rest_uri() is None
