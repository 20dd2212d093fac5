"""``llmreg serve --admin-key env:NAME`` mounts the console at ``/console``; without an
admin key ``/console`` is a 404. A real ``llmreg serve`` process, a real sqlite MLflow
store listed through llmreg-mlflow's register."""

from __future__ import annotations

import subprocess
import sys

import httpx

from support.serve_process import free_port, wait_serving

from .test_cli_serve import RUNNER, _env, _model

PLUGINS = "llmreg-example,llmreg-gateway,llmreg-mlflow"


def _serve(tmp_path, *extra: str) -> tuple[str, subprocess.Popen[str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "serve", _model(tmp_path), "--port", str(port),
         "--api-key", "env:T_API_KEY", "--reload-interval", "0", *extra],
        env={**_env(tmp_path), "LLMREG_LOAD_PLUGINS": PLUGINS,
             "T_API_KEY": "sk-api-1", "T_ADMIN_KEY": "sk-admin-1"},
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_serving(url, process)
    except BaseException:
        process.kill()
        raise
    return url, process


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.communicate(timeout=30)


def _chat(url: str, tmp_path) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={
            "model": f"folder:{tmp_path / 'model'}",
            "messages": [{"role": "user", "content": "hi"}],
        },
        headers={"Authorization": "Bearer sk-api-1"},
        timeout=30,
    )


def test_an_admin_key_mounts_the_console_and_chat_still_answers(tmp_path):
    url, process = _serve(tmp_path, "--admin-key", "env:T_ADMIN_KEY")
    try:
        login = httpx.get(f"{url}/console/login", timeout=10)
        assert login.status_code == 200
        assert 'name="key"' in login.text and "sk-admin-1" not in login.text
        refused = httpx.post(f"{url}/console/login", data={"key": "wrong"}, timeout=10)
        assert refused.status_code in (401, 403)
        answer = _chat(url, tmp_path)
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "echo: hi"
    finally:
        _stop(process)


def test_without_an_admin_key_the_console_is_404(tmp_path):
    url, process = _serve(tmp_path)
    try:
        assert httpx.get(f"{url}/console/login", timeout=10).status_code == 404
        assert httpx.get(f"{url}/console", timeout=10).status_code == 404
        assert _chat(url, tmp_path).status_code == 200
    finally:
        _stop(process)
