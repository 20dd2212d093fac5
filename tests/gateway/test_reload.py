"""A moved alias is picked up without a restart: ``POST /admin/reload`` and the poll."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI

from llmreg_gateway import create_app

URI = "models:/chat@champion"
ADMIN = {"Authorization": "Bearer sk-reload-admin-5150"}


@pytest.fixture
def served(serve, manager, monkeypatch, ready):
    """``models:/chat@champion`` through the SwitchLoader (poll off), model routes open,
    ``/admin/reload`` behind an admin key."""
    monkeypatch.setenv("T_RELOAD_ADMIN", ADMIN["Authorization"].removeprefix("Bearer "))
    app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0,
                     admin_key="env:T_RELOAD_ADMIN")  # fmt: skip
    server = serve(app)
    ready(server.url)
    return server


def _model_answering(url: str) -> str:
    return httpx.post(f"{url}/predict", json=["which"]).json()["rows"][0]["metadata"]["model"]


def test_admin_reload_picks_up_a_moved_alias(served, switch):
    assert _model_answering(served.url) == "echo-v1"
    switch.targets[URI] = 2
    assert _model_answering(served.url) == "echo-v1"  # nothing reloads by itself (poll off)
    answer = httpx.post(f"{served.url}/admin/reload", headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json() == {
        "model_uri": URI,
        "changed": True,
        "previous": {"model_uri": URI, "version": "1"},
        "current": {"model_uri": URI, "version": "2"},
    }
    assert _model_answering(served.url) == "echo-v2"
    assert httpx.get(f"{served.url}/ready").json()["info"]["version"] == "2"


def test_no_auth_never_opens_the_admin_routes(serve, manager, monkeypatch):
    monkeypatch.setenv("T_USER_KEY", "sk-user-no-admin-1")
    for settings in ({"no_auth": True}, {}, {"api_keys": ["env:T_USER_KEY"], "no_auth": True}):
        app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager,
                         reload_interval=0, **settings)  # fmt: skip
        server = serve(app)
        assert httpx.post(f"{server.url}/predict", json=["x"]).status_code == 200
        answer = httpx.post(f"{server.url}/admin/reload")
        assert answer.status_code == 403, settings
        assert answer.json()["error"]["code"] == "admin_disabled"


def test_reload_without_a_move_changes_nothing(served):
    answer = httpx.post(f"{served.url}/admin/reload", headers=ADMIN).json()
    assert answer["changed"] is False


def test_failed_reload_keeps_the_loaded_model(served, switch):
    switch.targets[URI] = None  # the alias was deleted
    answer = httpx.post(f"{served.url}/admin/reload", headers=ADMIN)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "reload_failed"
    assert _model_answering(served.url) == "echo-v1"


def test_the_poll_picks_up_a_moved_alias(serve, manager, switch, ready):
    app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0.05)
    server = serve(app)
    ready(server.url)
    switch.targets[URI] = 3
    deadline = time.monotonic() + 30
    while _model_answering(server.url) != "echo-v3":
        assert time.monotonic() < deadline, "the poll never picked up the move"
        time.sleep(0.05)


def test_a_version_uri_is_not_polled(serve, manager, switch, ready):
    uri = "models:/chat/1"
    switch.targets[uri] = 1
    app = create_app(uri, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0.01)
    server = serve(app)
    ready(server.url)
    time.sleep(0.3)
    assert switch.loads == [uri]


def test_mounted_in_a_host_app(serve, manager):
    """A host app mounts the app; its first request loads the model."""
    host = FastAPI()
    host.mount("/llm", create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager))
    server = serve(host)
    answer = httpx.post(f"{server.url}/llm/predict", json=["mounted"])
    assert answer.json()["rows"][0]["prediction"] == "echo: mounted"
    assert httpx.get(f"{server.url}/llm/ready").status_code == 200
