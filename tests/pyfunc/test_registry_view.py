"""How a saved and registered model reads in the MLflow UI, checked through MLflow's REST API.

Against a real ``mlflow server`` (one worker, proxied artifacts): the logged model
is named after the registered name, the run sits in a named experiment with a
readable name, the definition's settings are params of the run and the logged
model, the description is the version's, registration writes the source and the
``mlflow.modelVersions`` link as ``mlflow.register_model`` does, the same content
is saved once, and a save inside ``mlflow.start_run()`` logs into that run.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmreg.definition import ModelDefinition
from llmreg_mlflow import MlflowRegister
from llmreg_pyfunc import CustomSaver
from support.mlflow_server import MlflowServer, running_mlflow_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server`` for the module."""
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as running:
        yield running


@pytest.fixture
def on_server(server: MlflowServer, providers: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """MLflow's tracking (and registry) URI set to the server for one test."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_tracking_uri(server.url)
    yield server.url
    mlflow.set_tracking_uri(None)


def _get(base: str, path: str, **query: str) -> dict[str, Any]:
    url = f"{base}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - local server
        return dict(json.loads(response.read()))


def _params(entity: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in entity.get("params", [])}


def _tags(entity: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in entity.get("tags", [])}


def _linked(links: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (name, version) pairs of a ``mlflow.modelVersions`` tag (a server writes the
    version as a number, the client as a string)."""
    return [(str(e["name"]), str(e["version"])) for e in links]


def _definition(**changes: Any) -> ModelDefinition:
    base = {
        "provider": "echo",
        "model": "echo-1",
        "api_key": "env:LLMREG_TEST_KEY",
        "temperature": 0.3,
        "max_tokens": 64,
        "options": {"top_p": 0.9},
        "base_url": "http://api.example.com:8443/v1/chat?tenant=acme",
        "description": "Answers support questions in one paragraph.",
    }
    return ModelDefinition(**{**base, **changes})


def test_a_registered_version_reads_well_over_rest(on_server: str) -> None:
    saved = CustomSaver(registered_name="support-bot").save(_definition())
    version = MlflowRegister().register("support-bot", saved.uri)

    logged = _get(on_server, f"logged-models/{saved.model_id}")["model"]
    assert logged["info"]["name"] == "support-bot"
    expected = {
        "provider": "echo",
        "model": "echo-1",
        "temperature": "0.3",
        "max_tokens": "64",
        "top_p": "0.9",
        "base_url_host": "api.example.com:8443",  # no path or query
        "content_hash": saved.content_hash,
    }
    assert _params(logged["data"]) == expected
    links = json.loads(_tags(logged["info"])["mlflow.modelVersions"])
    assert _linked(links) == [("support-bot", str(version.version))]

    run = _get(on_server, "runs/get", run_id=saved.run_id)["run"]
    assert run["info"]["run_name"] == f"support-bot-{saved.content_hash.split(':')[-1][:8]}"
    assert _params(run["data"]) == expected
    assert _tags(run["data"])["mlflow.note.content"] == _definition().description
    experiment = _get(on_server, "experiments/get", experiment_id=run["info"]["experiment_id"])
    assert experiment["experiment"]["name"] == "support-bot"

    mv = _get(on_server, "model-versions/get", name="support-bot", version=str(version.version))[
        "model_version"
    ]
    assert mv["description"] == "Answers support questions in one paragraph."
    assert mv["source"] == saved.uri  # models:/m-<id>, as mlflow.register_model writes
    assert mv["run_id"] == saved.run_id
    assert version.description == mv["description"]


def test_registration_matches_mlflow_register_model(on_server: str) -> None:
    import mlflow

    ours = CustomSaver(registered_name="ours").save(_definition(model="echo-ours"))
    theirs = CustomSaver(registered_name="theirs").save(_definition(model="echo-theirs"))
    MlflowRegister().register("ours", ours.uri)
    mlflow.register_model(theirs.uri, "theirs")

    def view(name: str, model_id: str | None) -> tuple[Any, ...]:
        mv = _get(on_server, "model-versions/get", name=name, version="1")["model_version"]
        logged = _get(on_server, f"logged-models/{model_id}")["model"]
        links = json.loads(_tags(logged["info"])["mlflow.modelVersions"])
        return (mv["source"] == f"models:/{model_id}", mv["run_id"], _linked(links))

    assert view("ours", ours.model_id)[0] is True
    assert view("theirs", theirs.model_id)[0] is True
    assert view("ours", ours.model_id)[2] == [("ours", "1")]
    # against a server, MLflow's own call links the version twice (the server, then the client)
    assert set(view("theirs", theirs.model_id)[2]) == {("theirs", "1")}
    assert view("ours", ours.model_id)[1] == ours.run_id
    assert view("theirs", theirs.model_id)[1] == theirs.run_id


def test_the_same_content_is_saved_once(on_server: str) -> None:
    import mlflow

    saver = CustomSaver(registered_name="saved-once")
    first = saver.save(_definition(model="echo-once"))
    again = saver.save(_definition(model="echo-once"))
    assert (again.uri, again.run_id) == (first.uri, first.run_id)
    experiment = mlflow.get_experiment_by_name("saved-once")
    assert experiment is not None
    runs = mlflow.search_runs([experiment.experiment_id], output_format="list")
    models = mlflow.search_logged_models([experiment.experiment_id], output_format="list")
    assert (len(runs), len(models)) == (1, 1)


def test_save_inside_an_active_run_logs_into_it(on_server: str) -> None:
    import mlflow

    experiment_id = mlflow.create_experiment("notebook")
    with mlflow.start_run(experiment_id=experiment_id, run_name="my-notebook-run") as run:
        saved = CustomSaver().save(_definition(model="echo-in-run"))
        assert mlflow.active_run() is not None  # the user's run is not ended
    assert saved.run_id == run.info.run_id
    logged = _get(on_server, f"logged-models/{saved.model_id}")["model"]
    assert logged["info"]["source_run_id"] == run.info.run_id
    assert logged["info"]["experiment_id"] == experiment_id
    assert logged["info"]["name"] == "echo-in-run"
    info = _get(on_server, "runs/get", run_id=run.info.run_id)["run"]["info"]
    assert (info["status"], info["run_name"]) == ("FINISHED", "my-notebook-run")


def test_a_path_of_the_definition_model_mlflow_refuses_is_cleaned(
    experiment: str, store: Path
) -> None:
    saved = CustomSaver(experiment=experiment).save(_definition(model="gemma3:270m.q4"))
    assert saved.info["name"] == "gemma3-270m-q4"
