"""One settings object: :class:`GatewaySettings` built from keywords, a file or the
workers' environment, checked once, and never holding a key."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from llmreg.errors import ConfigError
from llmreg_gateway import GatewaySettings, create_app
from llmreg_gateway.settings import SETTINGS_ENV

from .conftest import URI, wait_ready
from .test_cli_serve import RUNNER, _env, _model


@pytest.mark.parametrize(
    "options, says",
    [
        ({"max_rows": 0}, "max_rows must be a positive integer"),
        ({"max_body_bytes": True}, "max_body_bytes must be a positive integer"),
        ({"reload_interval": -1}, "reload_interval must be seconds"),
        ({"body_timeout": 0}, "body_timeout must be more than 0"),
        ({"header_timeout": float("nan")}, "header_timeout must be seconds"),
        ({"no_auth": "yes"}, "no_auth must be true or false"),
        ({"api_keys": ["sk-literal-key"]}, "--api-key takes a reference"),
        ({"admin_key": "sk-admin"}, "--admin-key takes a reference"),
        ({"alias": "latest"}, "invalid alias"),
        ({"loader": "FolderLoader"}, "loader must be a config object"),
        ({"max_row": 3}, "unknown gateway setting(s): max_row"),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_it(options, says):
    with pytest.raises(ConfigError, match=None) as caught:
        GatewaySettings.build(model_uris=[URI], **options)
    assert says in str(caught.value)
    assert "sk-literal-key" not in str(caught.value) and "sk-admin" not in str(caught.value)


def test_the_settings_go_through_json_whole_and_without_keys(monkeypatch):
    monkeypatch.setenv("S_KEY", "sk-secret-value")
    settings = GatewaySettings.build(
        model_uris=[URI], api_keys=["env:S_KEY"], max_rows=7, body_timeout=2.5,
        loader={"KIND": "SwitchLoader"}, protect_metrics=True,
    )  # fmt: skip
    text = settings.to_json()
    assert "sk-secret-value" not in text and "env:S_KEY" in text
    assert GatewaySettings.from_json(text) == settings
    monkeypatch.setenv(SETTINGS_ENV, text)
    assert GatewaySettings.from_env() == settings
    with pytest.raises(ConfigError, match="not JSON"):
        GatewaySettings.from_json("{oops")


def test_create_app_takes_one_settings_object(serve, manager):
    settings = GatewaySettings.build(
        model_uris=[URI], loader={"KIND": "SwitchLoader"}, reload_interval=0, max_rows=1
    )
    app = create_app(settings=settings, manager=manager)
    assert app.state.llmreg_settings is settings
    server = serve(app)
    wait_ready(server.url)
    assert httpx.post(f"{server.url}/predict", json=["a"]).status_code == 200
    assert httpx.post(f"{server.url}/predict", json=["a", "b"]).status_code == 413


def test_create_app_refuses_settings_and_keywords_together(manager):
    settings = GatewaySettings.build(model_uris=[URI])
    with pytest.raises(ConfigError, match="max_rows"):
        create_app(settings=settings, manager=manager, max_rows=3)
    with pytest.raises(ConfigError, match="model_uri"):
        create_app(URI, settings=settings, manager=manager)


def test_serve_reads_a_config_file_and_the_command_line_wins(tmp_path):
    config = tmp_path / "gateway.json"
    config.write_text(json.dumps({"api_keys": ["env:C_KEY"], "max_rows": 2, "body_timeout": 5}))
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", _model(tmp_path), "--port", "0", "--json",
         "--config", str(config), "--max-rows", "3"],
        env={**_env(tmp_path), "C_KEY": "sk-c-1"},
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = json.loads(process.stdout.readline())["url"]
        user = {"Authorization": "Bearer sk-c-1"}
        assert httpx.post(f"{url}/predict", json=["a"]).status_code == 401  # the file's key
        assert httpx.post(f"{url}/predict", json=["a"] * 3, headers=user).status_code == 200
        answer = httpx.post(f"{url}/predict", json=["a"] * 4, headers=user)
        assert answer.status_code == 413 and "at most 3" in answer.json()["error"]["message"]
    finally:
        process.terminate()
        process.communicate(timeout=60)


def test_serve_refuses_a_bad_config_file_before_serving(tmp_path):
    config = tmp_path / "gateway.json"
    config.write_text(json.dumps({"no_auth": True, "max_rows": -1}))
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, "serve", _model(tmp_path), "--port", "0",
         "--config", str(config)],
        env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "max_rows must be a positive integer" in done.stderr


def test_every_worker_gets_the_settings_whole(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", _model(tmp_path), "--port", "0", "--json",
         "--workers", "2", "--api-key", "env:W_KEY", "--max-rows", "1"],
        env={**_env(tmp_path), "LLMREG_LOAD_PLUGINS": "llmreg-example,llmreg,llmreg-gateway",
             "W_KEY": "sk-w-secret"},
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = json.loads(process.stdout.readline())["url"]
        user = {"Authorization": "Bearer sk-w-secret"}
        pids = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            try:
                with httpx.Client() as fresh:  # a new connection: either worker
                    if fresh.get(f"{url}/ready").status_code != 200:
                        continue
                    answer = fresh.post(f"{url}/predict", json=["a", "b"], headers=user)
                    assert answer.status_code == 413, answer.text
                    assert "at most 1" in answer.json()["error"]["message"]
                    pids.add(fresh.get(f"{url}/health").json()["pid"])
            except httpx.TransportError:
                time.sleep(0.1)
        assert len(pids) == 2, f"one worker answered: {pids}"
        with open(f"/proc/{min(pids)}/environ", "rb") as env:
            pairs = dict(item.partition(b"=")[::2] for item in env.read().split(b"\0"))
        carried = json.loads(pairs[SETTINGS_ENV.encode()])
        assert carried["max_rows"] == 1 and carried["api_keys"] == ["env:W_KEY"]
        assert b"sk-w-secret" not in pairs[SETTINGS_ENV.encode()]
    finally:
        process.terminate()
        process.communicate(timeout=60)
