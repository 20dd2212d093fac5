"""Many models in one server: routing by URI, name and ``name@alias``, lists, isolation."""

from __future__ import annotations

import httpx
import openai
import pytest

from llmreg_gateway import create_app

from .conftest import URI, wait_ready

SUMMARIZE = "models:/summarize@champion"
CHALLENGER = "models:/chat@challenger"
BROKEN = "models:/broken@champion"


ADMIN = {"Authorization": "Bearer sk-many-admin-2718"}


@pytest.fixture
def many(serve, manager, switch, monkeypatch):
    switch.targets.update({SUMMARIZE: 2, CHALLENGER: 3})
    monkeypatch.setenv("T_MANY_ADMIN", ADMIN["Authorization"].removeprefix("Bearer "))
    app = create_app(
        [URI, SUMMARIZE, CHALLENGER, BROKEN],
        loader={"KIND": "SwitchLoader"},
        manager=manager,
        reload_interval=0,
        admin_key="env:T_MANY_ADMIN",
    )
    server = serve(app)
    deadline_body = None
    for _ in range(500):
        deadline_body = httpx.get(f"{server.url}/ready").json()
        if all(m["status"] != "loading" for m in deadline_body["models"]):
            break
        import time

        time.sleep(0.02)
    return server


@pytest.fixture
def client(many):
    with openai.OpenAI(base_url=f"{many.url}/v1", api_key="unused", max_retries=0) as c:
        yield c


def _answering(client: openai.OpenAI, model: str) -> str:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}]
    ).model_dump()["system_fingerprint"]


def test_the_model_field_routes_by_uri_name_and_name_at_alias(client):
    assert _answering(client, URI) == "llmreg:chat:v1"
    assert _answering(client, "chat") == "llmreg:chat:v1"  # the first URI with that name
    assert _answering(client, "chat@challenger") == "llmreg:chat:v3"
    assert _answering(client, CHALLENGER) == "llmreg:chat:v3"
    assert _answering(client, "summarize") == "llmreg:summarize:v2"
    with pytest.raises(openai.NotFoundError) as caught:
        _answering(client, "nope")
    assert "summarize@champion" in caught.value.body["message"]


def test_models_are_listed_and_each_can_be_fetched(client, many):
    listed = [m.id for m in client.models.list()]
    assert listed == [URI, SUMMARIZE, CHALLENGER, BROKEN]
    assert client.models.retrieve("summarize").id == SUMMARIZE
    assert client.models.retrieve(CHALLENGER).id == CHALLENGER
    one = httpx.get(f"{many.url}/v1/models/chat@challenger")
    assert one.headers["x-llmreg-model-version"] == "3"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("missing")


def test_a_model_that_fails_to_load_does_not_take_the_others_down(client, many):
    ready = httpx.get(f"{many.url}/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert [m["status"] for m in body["models"]] == ["ready", "ready", "ready", "failed"]
    with pytest.raises(openai.APIStatusError) as caught:
        _answering(client, "broken")
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "model_not_loaded"
    assert _answering(client, "summarize") == "llmreg:summarize:v2"


def test_each_model_reloads_on_its_own(client, many, switch):
    switch.targets.update({URI: 4, SUMMARIZE: 5})
    answer = httpx.post(f"{many.url}/admin/reload", params={"model": "summarize"}, headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json()["changed"] is True and answer.json()["current"]["version"] == "5"
    assert _answering(client, "summarize") == "llmreg:summarize:v5"
    assert _answering(client, "chat") == "llmreg:chat:v1"  # not reloaded
    switch.targets[BROKEN] = 9
    everything = httpx.post(f"{many.url}/admin/reload", headers=ADMIN).json()["models"]
    assert [m["current"]["version"] for m in everything] == ["4", "5", "3", "9"]
    assert _answering(client, "broken") == "llmreg:broken:v9"


def test_predict_names_its_model_when_several_are_served(many):
    rows = httpx.post(f"{many.url}/predict", params={"model": "summarize"}, json=["hi"])
    assert rows.status_code == 200 and rows.headers["x-llmreg-model-version"] == "2"
    assert rows.json()["rows"][0]["metadata"]["model"] == "echo-v2"
    unnamed = httpx.post(f"{many.url}/predict", json=["hi"])
    assert unnamed.status_code == 400
    assert unnamed.json()["error"]["code"] == "model_required"


def test_one_model_apps_keep_their_ready_body(serve, manager, switch):
    server = serve(create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager))
    assert wait_ready(server.url)["model_uri"] == URI
