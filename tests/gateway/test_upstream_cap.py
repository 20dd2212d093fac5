"""``max_upstream_bytes``: an upstream answer larger than the cap is a 502 in OpenAI's
error shape (an error event once a stream has started), and a stream stops being
read once it is over; rows under the cap keep their answers."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import URI, wait_ready

CHAT = "/v1/chat/completions"
LONG = " ".join(f"word{i}" for i in range(60))  # the echo answers ~430 bytes


@pytest.fixture
def capped(serve, manager):
    """The echo app reading at most 100 bytes of an answer."""
    from llmreg_gateway import create_app

    app = create_app(
        URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0,
        max_upstream_bytes=100,
    )  # fmt: skip
    server = serve(app)
    wait_ready(server.url)
    return server


def _is_too_large(error: dict) -> None:
    assert error["code"] == "upstream_too_large"
    assert error["type"] == "ProviderResponseError"
    assert "max_upstream_bytes 100" in error["message"]


def test_a_row_over_the_cap_is_an_error_row_and_the_others_keep_their_answers(capped):
    answer = httpx.post(f"{capped.url}/predict", json=["short", LONG])
    assert answer.status_code == 200
    short, long = answer.json()["rows"]
    assert short["prediction"] == "echo: short"
    assert long["prediction"] is None and long["metadata"]["status"] == "error"
    assert "max_upstream_bytes 100" in long["metadata"]["error"]


def test_every_row_over_the_cap_is_a_502(capped):
    answer = httpx.post(f"{capped.url}/predict", json=[LONG])
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["type"] == "ProviderResponseError"
    assert "max_upstream_bytes 100" in error["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_answer_over_the_cap_is_a_502(capped, stream):
    body = {"model": URI, "messages": [{"role": "user", "content": LONG}], "stream": stream}
    answer = httpx.post(f"{capped.url}{CHAT}", json=body)
    assert answer.status_code == 502
    _is_too_large(answer.json()["error"])
    fine = httpx.post(f"{capped.url}{CHAT}", json={**body, "messages": [
        {"role": "user", "content": "hi"}]})  # fmt: skip
    assert fine.status_code == 200


@pytest.fixture
def capped_url(serve, upstream, tmp_path, monkeypatch):
    """An ``openai``-provider model at the fake server, read up to 2,000 bytes an answer."""
    from llmreg_gateway import create_app

    monkeypatch.setenv("FAKE_UPSTREAM_KEY", "sk-upstream-abc123")
    folder = tmp_path / "model"
    folder.mkdir()
    definition = {"provider": "openai", "model": "gpt-stream", "base_url": upstream.base_url,
                  "api_key": "env:FAKE_UPSTREAM_KEY", "max_retries": 0}  # fmt: skip
    (folder / "model_definition.json").write_text(json.dumps(definition))
    app = create_app(
        f"folder:{folder}", loader={"KIND": "FolderLoader"}, reload_interval=0,
        max_upstream_bytes=2000,
    )  # fmt: skip
    server = serve(app)
    wait_ready(server.url)
    return server.url


def _events(url: str, body: dict) -> list[dict]:
    raw = httpx.post(f"{url}{CHAT}", json=body, timeout=30)
    assert raw.status_code == 200, raw.text
    lines = [line[6:] for line in raw.text.splitlines() if line.startswith("data: ")]
    return [{"done": True} if line == "[DONE]" else json.loads(line) for line in lines]


@pytest.mark.parametrize("extra", [{}, {"logprobs": True}], ids=["text", "pass-through"])
def test_a_stream_over_the_cap_ends_with_an_error_event(capped_url, upstream, extra):
    body = {"model": served_id(capped_url), "stream": True, **extra,
            "messages": [{"role": "user", "content": LONG * 8}]}  # fmt: skip
    events = _events(capped_url, body)
    assert {"done": True} not in events  # the stream did not end as a success
    assert "error" in events[-1], events[-1]
    _is_too_large_at(events[-1]["error"], 2000)
    short = _events(capped_url, {**body, "messages": [{"role": "user", "content": "hi"}]})
    assert short[-1] == {"done": True}


def _is_too_large_at(error: dict, limit: int) -> None:
    assert error["code"] == "upstream_too_large"
    assert f"max_upstream_bytes {limit}" in error["message"]


def served_id(url: str) -> str:
    return str(httpx.get(f"{url}/v1/models").json()["data"][0]["id"])
