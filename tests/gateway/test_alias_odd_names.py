"""``serve --alias``: a registered name llmreg refuses is skipped, the others are served.

The registry is a real sqlite MLflow store, listed through llmreg-mlflow's
``MlflowRegister``; ``café-model`` is registered there by MLflow's own client, as
another MLflow user would. Loading goes through the suite's SwitchLoader.
"""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from llmreg_gateway import create_app
from llmreg_gateway.registry import alias_finder

pytest.importorskip("llmreg_mlflow")
pytest.importorskip("mlflow")

ODD = "café-model"


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A sqlite store holding ``chat`` and ``café-model``, both with ``champion``; its client."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(uri, uri)
    for name in (ODD, "chat"):
        _register(client, tmp_path, name)
    return client


def _register(client, folder, name: str) -> None:
    source = folder / "artifacts" / name.encode("ascii", "replace").decode()
    source.mkdir(parents=True, exist_ok=True)
    client.create_registered_model(name)
    version = client.create_model_version(name, source.as_uri())
    client.set_registered_model_alias(name, "champion", version.version)


def _ids(url: str) -> list[str]:
    return [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]


def test_an_odd_name_is_skipped_with_one_warning_and_discovery_goes_on(
    registry, tmp_path, serve, manager, switch, caplog
):
    from llmreg_mlflow import MlflowRegister

    caplog.set_level(logging.WARNING, logger="llmreg_gateway")
    switch.targets.update({"models:/chat@champion": 1, "models:/summarize@champion": 2})
    register = MlflowRegister(tracking_uri=registry.tracking_uri)
    assert alias_finder(register, "champion")() == ["models:/chat@champion"]
    caplog.clear()  # that finder warned once; the app's own warns once more, then never
    app = create_app(
        alias="champion",
        register=register,
        discover_interval=0.1,
        loader={"KIND": "SwitchLoader"},
        manager=manager,
        reload_interval=0,
    )
    assert [m.model_uri for m in app.state.llmreg_models.discover_new()] == [  # as serve starts
        "models:/chat@champion"
    ]
    server = serve(app)
    assert _ids(server.url) == ["models:/chat@champion"]
    _register(registry, tmp_path, "summarize")  # a model gaining the alias while it serves
    deadline = time.monotonic() + 30
    while _ids(server.url) != ["models:/chat@champion", "models:/summarize@champion"]:
        assert time.monotonic() < deadline, "discovery stopped"
        time.sleep(0.05)
    time.sleep(0.3)  # a few more listings, each meeting café-model again
    warnings = [r.getMessage() for r in caplog.records if ODD in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "champion" in warnings[0]
    rows = httpx.post(f"{server.url}/predict", params={"model": "summarize"}, json=["hi"])
    assert rows.json()["rows"][0]["metadata"]["model"] == "echo-v2"
