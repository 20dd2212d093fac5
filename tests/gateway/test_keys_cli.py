"""``llmreg keys create|list|revoke|rotate|usage`` against a real ``llmreg serve`` process,
the keys used through the official ``openai`` SDK."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import openai
import pytest

from support.serve_process import free_port, wait_serving

from .test_cli_serve import RUNNER, _env, _model

SECRETS = {"K_API_KEY": "sk-api-keys-cli", "K_ADMIN_KEY": "sk-admin-keys-cli"}


def _keys(tmp_path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, "keys", "--url", url, "--admin-key", "env:K_ADMIN_KEY",
         *args],
        env={**_env(tmp_path), **SECRETS}, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def served(tmp_path):
    port = free_port()
    model = _model(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", model, "--port", str(port),
         "--api-key", "env:K_API_KEY", "--admin-key", "env:K_ADMIN_KEY",
         "--reload-interval", "0", "--key-limits", "rpm=100"],
        env={**_env(tmp_path), **SECRETS}, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_serving(url, process)
        yield url, model
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_keys_commands_manage_a_served_gateway(tmp_path, served):
    url, model = served
    made = _keys(tmp_path, url, "create", "team-a", "--limits", "rpm=5", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["limits"] == {"rpm": 5} and key["secret"].startswith("sk-llmreg-")
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key["secret"], max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "5"
        assert raw.parse().choices[0].message.content == "echo: hi"
        listed = _keys(tmp_path, url, "list")
        assert listed.returncode == 0 and f"{key['id']}  active  team-a" in listed.stdout
        assert key["secret"] not in listed.stdout
        usage = _keys(tmp_path, url, "usage", "--json")
        assert [r["requests"] for r in json.loads(usage.stdout)["data"]] == [1]
        rotated = _keys(tmp_path, url, "rotate", key["id"])
        assert rotated.returncode == 0 and "secret (shown once): sk-llmreg-" in rotated.stdout
        gone = _keys(tmp_path, url, "revoke", key["id"])
        assert gone.returncode == 0 and "revoked" in gone.stdout
        time.sleep(1.2)
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])


def test_keys_with_a_wrong_admin_key_fails_with_one_line(tmp_path, served):
    url, _ = served
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, "keys", "--url", url, "--admin-key", "env:K_API_KEY",
         "list"],
        env={**_env(tmp_path), **SECRETS}, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "GatewayAdminError" in done.stderr and "401" in done.stderr
    assert SECRETS["K_API_KEY"] not in done.stderr
