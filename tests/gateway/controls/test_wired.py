"""The controls wired into the request path, through the official ``openai`` SDK against
a real served app (uvicorn on 127.0.0.1) in front of the fake OpenAI server: managed
keys, an rpm limit, the cache, cost, ``/ready``; and two apps sharing one real
``redis-server``."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import openai
import pytest

ADMIN = {"Authorization": "Bearer sk-admin-wired"}
HI = [{"role": "user", "content": "hi there"}]


@pytest.fixture
def model_uri(upstream, tmp_path, monkeypatch) -> str:
    """A folder model of the ``openai`` provider in front of the fake server."""
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "sk-upstream-abc123")
    monkeypatch.setenv("W_API_KEY", "sk-env-wired")
    monkeypatch.setenv("W_ADMIN_KEY", "sk-admin-wired")
    folder = tmp_path / "model"
    folder.mkdir()
    definition = {"provider": "openai", "model": "gpt-stream", "base_url": upstream.base_url,
                  "api_key": "env:FAKE_UPSTREAM_KEY", "max_retries": 0}  # fmt: skip
    (folder / "model_definition.json").write_text(json.dumps(definition))
    return f"folder:{folder}"


@pytest.fixture
def start(serve, model_uri, ready):
    """Start an app on ``model_uri`` with these settings; its base URL."""
    from llmreg_gateway import create_app

    def run(**options: Any) -> str:
        app = create_app(model_uri, loader={"KIND": "FolderLoader"}, reload_interval=0,
                         api_keys=["env:W_API_KEY"], admin_key="env:W_ADMIN_KEY",
                         **options)  # fmt: skip
        url = serve(app).url
        ready(url)
        return url

    return run


def _client(url: str, key: str = "sk-env-wired") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def _new_key(url: str, **fields: Any) -> dict[str, Any]:
    answer = httpx.post(f"{url}/admin/keys", json={"label": "team-a", **fields}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_managed_key_works_and_is_refused_after_revoke(start, model_uri):
    url = start()
    made = _new_key(url)
    assert made["secret"].startswith("sk-llmreg-")
    listed = httpx.get(f"{url}/admin/keys", headers=ADMIN).json()["data"]
    assert [k["id"] for k in listed] == [made["id"]] and "secret" not in listed[0]
    with _client(url, made["secret"]) as client:
        answer = client.chat.completions.create(model=model_uri, messages=HI)
        assert answer.choices[0].message.content == "echo: hi there"
        gone = httpx.delete(f"{url}/admin/keys/{made['id']}", headers=ADMIN)
        assert gone.status_code == 200 and gone.json()["revoked"] is not None
        time.sleep(1.2)  # the ring re-reads the key table's revision every second
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model=model_uri, messages=HI)
    usage = httpx.get(f"{url}/admin/usage", headers=ADMIN).json()["data"]
    assert [(r["key"], r["requests"]) for r in usage] == [(made["id"], 1)]
    assert httpx.get(f"{url}/admin/keys", headers={"Authorization": "Bearer no"}).status_code == 401


def test_a_rotated_key_stops_the_old_secret(start, model_uri):
    url = start()
    made = _new_key(url)
    rotated = httpx.post(f"{url}/admin/keys/{made['id']}/rotate", headers=ADMIN).json()
    assert rotated["id"] == made["id"] and rotated["secret"] != made["secret"]
    time.sleep(1.2)
    with _client(url, rotated["secret"]) as client:
        client.chat.completions.create(model=model_uri, messages=HI)
    with _client(url, made["secret"]) as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=model_uri, messages=HI)
    missing = httpx.delete(f"{url}/admin/keys/key-000000000000", headers=ADMIN)
    assert missing.status_code == 404


def test_an_rpm_limit_gives_rate_limit_error_with_retry_after(start, model_uri):
    url = start(key_limits="rpm=2")
    with _client(url) as client:
        first = client.chat.completions.with_raw_response.create(model=model_uri, messages=HI)
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        client.chat.completions.create(model=model_uri, messages=HI)
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model=model_uri, messages=HI)
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert refused.value.code == "rate_limit_exceeded"
    predicted = httpx.post(f"{url}/predict", params={"model": model_uri}, json=["x"],
                           headers={"Authorization": "Bearer sk-env-wired"})  # fmt: skip
    assert predicted.status_code == 429 and int(predicted.headers["retry-after"]) >= 1
    assert predicted.json()["error"]["code"] == "rate_limit_exceeded"


def test_a_cache_hit_is_served_with_the_header_streamed_or_not(start, model_uri, upstream):
    url = start(cache_ttl=60)
    with _client(url) as client:
        miss = client.chat.completions.with_raw_response.create(model=model_uri, messages=HI)
        assert "x-llmreg-cache" not in miss.headers
        calls = len(upstream.requests)
        hit = client.chat.completions.with_raw_response.create(model=model_uri, messages=HI)
        assert hit.headers["x-llmreg-cache"] == "hit"
        assert hit.parse().choices[0].message.content == "echo: hi there"
        with client.chat.completions.with_streaming_response.create(
            model=model_uri, messages=HI, stream=True
        ) as streamed:
            assert streamed.headers["x-llmreg-cache"] == "hit"
            text = "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
        assert text == "echo: hi there"
        assert len(upstream.requests) == calls  # neither hit reached the upstream
        other = [{"role": "user", "content": "something else"}]
        fresh = client.chat.completions.with_raw_response.create(model=model_uri, messages=other)
        assert "x-llmreg-cache" not in fresh.headers


def test_cost_appears_in_usage_with_a_prices_file(start, model_uri, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="llmreg_gateway.access")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {model_uri: {"input": 1.0, "output": 2.0}}}))
    url = start(prices=str(prices))
    with _client(url) as client:
        answer = client.chat.completions.create(model=model_uri, messages=HI)
        usage = answer.usage.model_dump()
        expected = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6
        assert usage["cost_usd"] == pytest.approx(expected) and expected > 0
        chunks = list(client.chat.completions.create(
            model=model_uri, messages=HI, stream=True, stream_options={"include_usage": True}
        ))  # fmt: skip
        assert chunks[-1].usage.model_dump()["cost_usd"] == pytest.approx(expected)
        plain = list(client.chat.completions.create(model=model_uri, messages=HI, stream=True))
        assert all(c.usage is None for c in plain)  # the usage only the controls asked for
    usage_rows = httpx.get(f"{url}/admin/usage", headers=ADMIN).json()["data"]
    assert sum(r["cost_usd"] for r in usage_rows) == pytest.approx(3 * expected)
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "llmreg_gateway.access"]  # fmt: skip
    assert [line.get("cost_usd") for line in lines] == [pytest.approx(expected)] * 3
    assert [bool(line.get("stream")) for line in lines] == [False, True, True]


def test_ready_shows_the_controls_health(start):
    url = start(key_limits="concurrent=8")
    body = httpx.get(f"{url}/ready").json()
    assert body["controls"]["backend"] == "memory" and body["controls"]["ok"] is True
    assert "fail closed" in body["controls"]["policy"]
    assert "controls" not in httpx.get(f"{start()}/ready").json()  # none in use: none shown


def test_two_apps_share_limits_and_keys_through_redis(start, model_uri, own_redis):
    one = start(state=own_redis.url, key_limits="rpm=2")
    two = start(state=own_redis.url, key_limits="rpm=2")
    assert httpx.get(f"{one}/ready").json()["controls"]["backend"] == "redis"
    made = _new_key(one)
    time.sleep(1.2)
    with _client(two, made["secret"]) as client:  # made on one, accepted by two
        assert client.chat.completions.create(model=model_uri, messages=HI).choices
    with _client(one) as a, _client(two) as b:
        a.chat.completions.create(model=model_uri, messages=HI)
        b.chat.completions.create(model=model_uri, messages=HI)
        with pytest.raises(openai.RateLimitError):  # the third of the minute, anywhere
            a.chat.completions.create(model=model_uri, messages=HI)
    own_redis.stop()
    down = httpx.get(f"{one}/ready").json()["controls"]
    assert down["ok"] is False
    with _client(two) as b, pytest.raises(openai.InternalServerError) as refused:
        b.chat.completions.create(model=model_uri, messages=HI)
    assert refused.value.status_code == 503
    assert refused.value.response.headers["retry-after"] == "1"


def test_a_spent_budget_is_insufficient_quota(start, model_uri, tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {model_uri: {"input": 100.0, "output": 100.0}}}))
    url = start(prices=str(prices), key_budget="0.0001/daily")
    with _client(url) as client:
        client.chat.completions.create(model=model_uri, messages=HI)  # spends ~0.0006
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model=model_uri, messages=HI)
    assert refused.value.code == "insufficient_quota"
    assert int(refused.value.response.headers["retry-after"]) >= 1
