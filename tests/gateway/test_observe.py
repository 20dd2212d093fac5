"""Say what happened: the JSON access log, alias-swap and load-failure lines, /metrics, versions."""

from __future__ import annotations

import json
import logging

import httpx
import openai
import pytest

from llmreg_gateway import create_app

from .conftest import URI, wait_ready


@pytest.fixture
def keyed(serve, manager, monkeypatch):
    monkeypatch.setenv("T_KEY", "sk-observe-123456")
    app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0,
                     api_keys=["env:T_KEY"], admin_key="env:T_KEY")  # fmt: skip
    server = serve(app)
    wait_ready(server.url)
    return server


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-observe-123456", max_retries=0)


def _access(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "llmreg_gateway.access"]


def test_one_json_access_line_per_request_without_key_or_prompt(keyed, caplog):
    caplog.set_level(logging.INFO, logger="llmreg_gateway.access")
    with _client(keyed.url) as client:
        client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "secret prompt text"}]
        )
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="x", messages=[{"role": "user", "content": "y"}])
    ok, missing = _access(caplog)
    assert ok["status"] == 200 and ok["route"] == "/v1/chat/completions"
    assert ok["model"] == "chat" and ok["version"] == "1" and ok["alias"] == "champion"
    assert ok["prompt_tokens"] == 3 and ok["completion_tokens"] == 4
    assert len(ok["key_id"]) == 12 and ok["latency_ms"] > 0
    assert missing["status"] == 404 and missing["error_code"] == "model_not_found"
    text = caplog.text
    assert "sk-observe-123456" not in text and "secret prompt text" not in text


def test_responses_say_which_version_answered(keyed, switch):
    with _client(keyed.url) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=URI, messages=[{"role": "user", "content": "v"}]
        )
        assert raw.headers["x-llmreg-model-version"] == "1"
        assert raw.parse().system_fingerprint == "llmreg:chat:v1"
        switch.targets[URI] = 2
        admin = {"Authorization": "Bearer sk-observe-123456"}
        assert httpx.post(f"{keyed.url}/admin/reload", headers=admin).status_code == 200
        chunks = list(
            client.chat.completions.create(
                model=URI, messages=[{"role": "user", "content": "v"}], stream=True
            )
        )
        assert {c.system_fingerprint for c in chunks} == {"llmreg:chat:v2"}


def test_metrics_count_requests_errors_latency_and_tokens_per_version(keyed):
    with _client(keyed.url) as client:
        for _ in range(3):
            client.chat.completions.create(model=URI, messages=[{"role": "user", "content": "a"}])
    httpx.post(f"{keyed.url}/predict", json=["x"])  # 401: no key
    text = httpx.get(f"{keyed.url}/metrics").text
    labels = 'model="chat",route="/v1/chat/completions",status="200",version="1"'
    assert f"llmreg_requests_total{{{labels}}} 3.0" in text
    assert 'llmreg_tokens_total{kind="completion",model="chat",version="1"} 6.0' in text
    assert (
        'llmreg_request_seconds_count{model="chat",route="/v1/chat/completions",version="1"} 3.0'
        in text
    )
    assert 'code="invalid_api_key"' in text and 'status="401"' in text


def test_alias_swaps_and_load_failures_are_logged_and_counted(keyed, switch, caplog):
    caplog.set_level(logging.INFO, logger="llmreg_gateway")
    admin = {"Authorization": "Bearer sk-observe-123456"}
    switch.targets[URI] = 2
    httpx.post(f"{keyed.url}/admin/reload", headers=admin)
    switch.targets[URI] = None
    assert httpx.post(f"{keyed.url}/admin/reload", headers=admin).status_code == 503
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("llmreg_gateway.")]
    assert any("alias swap" in m and "version 2 (was 1)" in m for m in messages)
    assert any("reload of models:/chat@champion failed" in m for m in messages)
    text = httpx.get(f"{keyed.url}/metrics").text
    assert 'llmreg_alias_swaps_total{model="chat"} 1.0' in text
    assert 'llmreg_load_failures_total{model="chat"} 1.0' in text


def test_a_wrong_method_is_405_with_allow(keyed):
    answer = httpx.get(f"{keyed.url}/v1/chat/completions")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
