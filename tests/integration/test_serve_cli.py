"""``llmreg serve models:/chat@champion`` for real, called with the official openai client.

The model is saved, registered and promoted through the CLI into a sqlite store
in a temp folder; the endpoint is the fake OpenAI-compatible server. Moving
the alias with ``llmreg promote`` is picked up through ``POST /admin/reload``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from support.openai_server import FakeOpenAIServer
from support.serve_process import free_port, wait_serving

pytestmark = pytest.mark.integration

URI = "models:/chat@champion"

#: The admin key the served app asks POST /admin/reload for.
ADMIN_KEY = "sk-serve-cli-admin-31337"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["FAKE_KEY"] = "sk-serve-test-key"
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    return env


def llmreg(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "llmreg")
    done = subprocess.run(
        [exe, *args], cwd=folder, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"llmreg {' '.join(args)}: {done.stderr}"
    return done


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """chat v1 (gpt-one, champion) and v2 (gpt-two), served by ``llmreg serve``."""
    folder = tmp_path_factory.mktemp("serve")
    with FakeOpenAIServer() as endpoint:
        for model in ("gpt-one", "gpt-two"):
            config = {
                "provider": "openai",
                "model": model,
                "base_url": endpoint.base_url,
                "api_key": "env:FAKE_KEY",
            }
            (folder / f"{model}.json").write_text(json.dumps(config))
        llmreg(
            folder, "save", "gpt-one.json", "--register", "--name", "chat", "--alias", "champion"
        )
        llmreg(folder, "save", "gpt-two.json", "--register", "--name", "chat")
        port = free_port()
        exe = str(Path(sys.executable).parent / "llmreg")
        process = subprocess.Popen(
            [
                exe,
                "serve",
                URI,
                "--port",
                str(port),
                "--reload-interval",
                "0",
                "--no-auth",
                "--admin-key",
                "env:SERVE_CLI_ADMIN",
            ],  # --no-auth never opens /admin/reload
            cwd=folder,
            env={**_env(), "SERVE_CLI_ADMIN": ADMIN_KEY},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_serving(url, process)
            yield folder, url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


@pytest.fixture
def client(server):
    _, url = server
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as c:
        yield c


def test_chat_completion_by_alias_uri(client):
    answer = client.chat.completions.create(
        model=URI, messages=[{"role": "user", "content": "hello champion"}]
    )
    assert answer.choices[0].message.content == "echo: hello champion"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.total_tokens > 0


def test_streaming_by_name(client):
    chunks = list(
        client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "stream it"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: stream it"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_and_ready(client, server):
    assert [m.id for m in client.models.list().data] == [URI]
    ready = httpx.get(f"{server[1]}/ready").json()
    assert ready["info"]["version"] in (1, "1")


def test_predict_route_keeps_order(server):
    rows = [f"row {i}" for i in range(12)]
    answer = httpx.post(f"{server[1]}/predict", json={"rows": [{"input": r} for r in rows]})
    assert answer.status_code == 200
    assert [r["prediction"] for r in answer.json()["rows"]] == [f"echo: {r}" for r in rows]


def test_bad_request_is_400_in_openai_shape(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=URI, messages=[])
    assert caught.value.body["param"] == "messages"


def test_upstream_failure_is_502(server):
    """Every row failed at the endpoint (after retries): the route answers 502, typed."""
    answer = httpx.post(f"{server[1]}/predict", json=["[fault 401] no", "[fault 401] no"])
    assert answer.status_code == 502
    assert answer.json()["error"]["type"] == "ProviderAuthenticationError"
    assert "sk-serve-test-key" not in answer.text  # the endpoint quoted it; it is masked


def test_one_failed_row_keeps_the_others(server):
    answer = httpx.post(f"{server[1]}/predict", json=["fine", "[fault 400] bad"])
    assert answer.status_code == 200
    rows = answer.json()["rows"]
    assert rows[0]["prediction"] == "echo: fine"
    assert rows[1]["prediction"] is None and rows[1]["metadata"]["status"] == "error"


def test_chat_upstream_failure_is_502(client):
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model=URI, messages=[{"role": "user", "content": "[fault 401] x"}]
        )
    assert caught.value.status_code == 502


def test_alias_move_is_picked_up_by_admin_reload(client, server):
    folder, url = server
    llmreg(folder, "promote", "chat", "2")
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert httpx.post(f"{url}/admin/reload", timeout=120).status_code == 401
    reloaded = httpx.post(f"{url}/admin/reload", headers=admin, timeout=120).json()
    assert reloaded["changed"] is True
    assert str(reloaded["previous"]["version"]) == "1"
    assert str(reloaded["current"]["version"]) == "2"
    row = httpx.post(f"{url}/predict", json=["after the move"]).json()["rows"][0]
    assert row["metadata"]["model"] == "gpt-two"
    answer = client.chat.completions.create(
        model=URI, messages=[{"role": "user", "content": "still served"}]
    )
    assert answer.choices[0].message.content == "echo: still served"
