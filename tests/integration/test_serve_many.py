"""``llmreg serve --alias champion`` on a real sqlite MLflow store: keys, many models, streaming.

Two registered models answer through the fake OpenAI endpoint; a third gains the alias
while the server runs and is picked up. Called with the official openai SDK.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from support.openai_server import FakeOpenAIServer
from support.serve_process import free_port

from .test_serve_cli import _env, llmreg

pytestmark = pytest.mark.integration

KEY = "sk-many-models-0123"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    with FakeOpenAIServer() as endpoint:
        for model in ("gpt-chat", "gpt-sum", "gpt-late"):
            config = {"provider": "openai", "model": model, "base_url": endpoint.base_url,
                      "api_key": "env:FAKE_KEY", "max_retries": 0}  # fmt: skip
            (folder / f"{model}.json").write_text(json.dumps(config))
        llmreg(
            folder, "save", "gpt-chat.json", "--register", "--name", "chat", "--alias", "champion"
        )
        llmreg(
            folder,
            "save",
            "gpt-sum.json",
            "--register",
            "--name",
            "summarize",
            "--alias",
            "champion",
        )
        llmreg(folder, "save", "gpt-late.json", "--register", "--name", "late")
        port = free_port()
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "llmreg"), "serve", "--alias", "champion",
             "--port", str(port), "--reload-interval", "1", "--api-key", "env:MANY_KEY", "--json"],
            cwd=folder, env={**_env(), "MANY_KEY": KEY},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            started = json.loads(process.stdout.readline() or "{}")
            assert started.get("model_uris") == [
                "models:/chat@champion",
                "models:/summarize@champion",
            ], process.stderr.read() if process.poll() is not None else started
            yield folder, started["url"], endpoint
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def _client(url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_every_model_with_the_alias_is_served_and_routed_by_name(server):
    _, url, endpoint = server
    with _client(url) as client:
        for name, upstream in (("chat", "gpt-chat"), ("summarize@champion", "gpt-sum")):
            raw = client.chat.completions.with_raw_response.create(
                model=name, messages=[{"role": "user", "content": "hello"}]
            )
            answer = raw.parse()
            assert answer.choices[0].message.content == "echo: hello"
            assert raw.headers["x-llmreg-model-version"] == "1"
            assert answer.system_fingerprint == f"llmreg:{name.split('@')[0]}:v1"
            assert endpoint.count(upstream) >= 1
        streamed = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "a b"}], stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        chunks = list(streamed)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b"
        assert chunks[-1].usage.total_tokens == 5


def test_a_bad_key_is_refused(server):
    _, url, _ = server
    with _client(url, "sk-wrong") as client, pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_a_model_gaining_the_alias_is_picked_up(server):
    folder, url, _ = server
    llmreg(folder, "promote", "late", "1")
    deadline = time.monotonic() + 60
    with _client(url) as client:
        while "models:/late@champion" not in [m.id for m in client.models.list()]:
            assert time.monotonic() < deadline, "late@champion was never picked up"
            time.sleep(0.2)
        user = {"Authorization": f"Bearer {KEY}"}
        while (
            httpx.get(f"{url}/v1/models/late", headers=user).headers.get("x-llmreg-model-version")
            != "1"
        ):  # empty while it loads
            assert time.monotonic() < deadline, "late@champion never loaded"
            time.sleep(0.2)
        answer = client.chat.completions.create(
            model="late", messages=[{"role": "user", "content": "now"}]
        )
    assert answer.model == "late"
    assert httpx.get(f"{url}/metrics").status_code == 200
