"""Keys: closed by default in ``llmreg serve``, references only, per-model limits, admin key."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import httpx
import openai
import pytest

from llmreg.errors import ConfigError
from llmreg_gateway import create_app
from llmreg_gateway.auth import KeyRing, key_hash, read_keys_file

from .conftest import URI, wait_ready
from .test_cli_serve import RUNNER, _env, _model

KEY = "sk-test-0123456789abcdef"
ADMIN = "sk-admin-fedcba9876543210"


@pytest.fixture
def keyed(serve, manager, monkeypatch, tmp_path):
    """``models:/chat@champion`` and ``models:/other@champion`` behind keys: KEY (env, every
    model), a file key limited to ``other``, and the admin key."""
    monkeypatch.setenv("T_KEY", KEY)
    monkeypatch.setenv("T_ADMIN", ADMIN)
    from .conftest import SwitchLoader

    SwitchLoader.targets["models:/other@champion"] = 7
    keys = tmp_path / "keys"
    keys.write_text(f"# team b\n{key_hash('sk-team-b')} other\n")
    app = create_app(
        [URI, "models:/other@champion"],
        loader={"KIND": "SwitchLoader"},
        manager=manager,
        reload_interval=0,
        api_keys=["env:T_KEY"],
        keys_file=keys,
        admin_key="env:T_ADMIN",
        protect_metrics=True,
    )
    server = serve(app)
    wait_ready(server.url)
    return server


def _chat(url: str, key: str, model: str = URI) -> str:
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
    return answer.choices[0].message.content or ""


def test_a_valid_key_is_answered_and_a_bad_one_is_401_in_openai_shape(keyed):
    assert _chat(keyed.url, KEY) == "echo: hi"
    with pytest.raises(openai.AuthenticationError) as caught:
        _chat(keyed.url, "sk-wrong")
    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_api_key"
    assert caught.value.body["type"] == "invalid_request_error"
    assert "sk-wrong" not in json.dumps(caught.value.body)
    bare = httpx.post(f"{keyed.url}/v1/chat/completions", json={"model": URI, "messages": []})
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    assert httpx.post(f"{keyed.url}/predict", json=["x"]).status_code == 401
    assert httpx.get(f"{keyed.url}/v1/models").status_code == 401


def test_a_model_outside_a_keys_scope_is_a_404_like_a_model_that_does_not_exist(keyed):
    assert _chat(keyed.url, "sk-team-b", model="other") == "echo: hi"
    answers = {}
    for model in ("chat", "ghost"):  # served but not to this key; served to nobody
        with pytest.raises(openai.NotFoundError) as caught:
            _chat(keyed.url, "sk-team-b", model=model)
        answers[model] = caught.value.body
    ghost = answers["ghost"]
    assert answers["chat"] == {**ghost, "message": ghost["message"].replace("ghost", "chat")}
    assert answers["chat"]["code"] == "model_not_found" and answers["chat"]["param"] == "model"
    assert "champion'" not in answers["chat"]["message"].replace("other@champion'", "")
    listed = httpx.get(f"{keyed.url}/v1/models", headers={"Authorization": "Bearer sk-team-b"})
    assert [m["id"] for m in listed.json()["data"]] == ["models:/other@champion"]
    one = httpx.get(f"{keyed.url}/v1/models/chat", headers={"Authorization": "Bearer sk-team-b"})
    assert one.status_code == 404


def test_health_and_ready_stay_open_metrics_and_admin_need_keys(keyed):
    assert httpx.get(f"{keyed.url}/health").status_code == 200
    assert httpx.get(f"{keyed.url}/ready").status_code == 200
    assert httpx.get(f"{keyed.url}/metrics").status_code == 401
    user = {"Authorization": f"Bearer {KEY}"}
    assert httpx.get(f"{keyed.url}/metrics", headers=user).status_code == 200
    assert httpx.post(f"{keyed.url}/admin/reload").status_code == 401
    assert httpx.post(f"{keyed.url}/admin/reload", headers=user).status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN}"}
    reloaded = httpx.post(f"{keyed.url}/admin/reload", headers=admin)
    assert reloaded.status_code == 200
    assert [m["model_uri"] for m in reloaded.json()["models"]] == [URI, "models:/other@champion"]


def test_a_keyed_app_without_an_admin_key_refuses_reload(serve, manager, monkeypatch):
    monkeypatch.setenv("T_KEY", KEY)
    app = create_app(URI, loader={"KIND": "SwitchLoader"}, manager=manager, reload_interval=0,
                     api_keys=["env:T_KEY"])  # fmt: skip
    server = serve(app)
    answer = httpx.post(f"{server.url}/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "admin_disabled"


def test_keys_are_references_and_files_hold_hashes(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="reference"):
        KeyRing.build([KEY])
    monkeypatch.delenv("T_UNSET", raising=False)
    with pytest.raises(ConfigError, match="T_UNSET is not set"):
        KeyRing.build(["env:T_UNSET"])
    plain = tmp_path / "plain"
    plain.write_text(f"{KEY}\n")
    with pytest.raises(ConfigError, match="line 1: not a sha256") as caught:
        read_keys_file(plain)
    assert KEY not in str(caught.value)
    hashed = tmp_path / "hashed"
    hashed.write_text(f"{hashlib.sha256(KEY.encode()).hexdigest().upper()} a, b\n\n")
    (key,) = read_keys_file(hashed)
    assert key.models == frozenset({"a", "b"})
    ring = KeyRing([key])
    assert ring.identify(f"Bearer {KEY}") == key
    assert ring.identify(f"Basic {KEY}") is None
    assert ring.identify("Bearer ") is None


def _start(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", _model(tmp_path), "--port", "0", "--json", *args],
        env={**_env(tmp_path), **(env or {})},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_llmreg_serve_refuses_to_start_without_keys_or_no_auth(tmp_path):
    process = _start(tmp_path)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 1
    error = json.loads(out)["error"]
    assert error["type"] == "ConfigError"
    assert "--api-key env:NAME" in error["message"] and "--no-auth" in error["message"]


def test_llmreg_serve_with_a_key_logs_its_id_never_the_key(tmp_path):
    process = _start(tmp_path, "--api-key", "env:T_KEY", env={"T_KEY": KEY})
    try:
        started = json.loads(process.stdout.readline())
        assert started["auth"] == "keys"
        url = started["url"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _chat(url, KEY, model=started["model_uri"]) == "echo: hi"
        with pytest.raises(openai.AuthenticationError):
            _chat(url, "sk-nope", model=started["model_uri"])
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [line["status"] for line in lines] == [200, 401]
    assert lines[0]["key_id"] == key_hash(KEY)[:12]
    assert lines[1]["key_id"] is None
    assert KEY not in err and "sk-nope" not in err and "hi" not in [v for x in lines for v in x]


def test_no_auth_is_announced(tmp_path):
    process = _start(tmp_path, "--no-auth")
    try:
        started = json.loads(process.stdout.readline())
        assert started["auth"] == "off"
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "warning: --no-auth" in err
