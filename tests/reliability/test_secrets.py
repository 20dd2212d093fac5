"""Secrets: a canary API key goes everywhere a key can go, and lands nowhere.

The key is random, lives only in an environment variable, and the model
definition references it as ``env:NAME``. It goes through save, register,
promote, load, predict (including a 401 whose answer quotes the key, as OpenAI's
does), the serving app, and every CLI command with ``--debug``, with Python
logging at DEBUG. Then the suite searches every file under the store's folder
(artifacts, the sqlite database, logs), every param and tag MLflow holds, the
captured logs, and all output: the canary must appear 0 times. The fake
endpoint must have received it in the Authorization header, so the search is
not vacuous.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliability import tally
from reliability.models import definition, llmreg_command, load, register, run_cli, save
from reliability.serving import serving
from reliability.stores import Store, cli_env

from llmreg.manager import get_plugin_manager
from support.mlflow_server import free_port
from support.openai_server import FakeOpenAIServer

#: Seconds a test that starts servers or processes may take on a loaded 2-core machine.
SLOW_TEST_TIMEOUT = 900

CANARY_VAR = "LLMREG_RELIABILITY_CANARY"


def _mlflow_values(store: Store) -> list[str]:
    """Every param and tag (keys and values) of runs, logged models, models and versions."""
    from mlflow.entities import ViewType

    client = store.client()
    experiments = client.search_experiments(view_type=ViewType.ALL)
    ids = [e.experiment_id for e in experiments]
    values: list[str] = []
    for run in client.search_runs(ids, run_view_type=ViewType.ALL):
        values += [*run.data.params.items(), *run.data.tags.items()]  # type: ignore[arg-type]
    for logged in client.search_logged_models(ids):
        values += [*logged.params.items(), *logged.tags.items()]  # type: ignore[arg-type]
    for model in client.search_registered_models():
        values += [*model.tags.items(), model.description or ""]  # type: ignore[arg-type]
    for version in client.search_model_versions():
        values += [*version.tags.items(), version.description or ""]  # type: ignore[arg-type]
    return [str(v) for v in values]


def _api_journey(store: Store, server: FakeOpenAIServer, outputs: list[str]) -> None:
    """Save, register, promote, load, predict, serve, with the canary's model."""
    from llmreg_gateway import create_app

    model = definition(server.base_url, "canary-model", api_key=f"env:{CANARY_VAR}")
    version = register("canary", save(model))
    get_plugin_manager().register({"KIND": "MlflowRegister"}).promote(  # type: ignore[attr-defined]
        "canary", version, "champion"
    )
    adapter = load("models:/canary@champion")
    out = adapter.predict(["hello", "[fault 401] refused"])
    assert out.rows[0].prediction == "echo: hello" and out.rows[1].prediction is None
    outputs += [out.model_dump_json(), repr(adapter.definition), str(adapter.info)]
    app = create_app("models:/canary@champion", reload_interval=0)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        chat = {"model": "canary", "messages": [{"role": "user", "content": "hi"}]}
        refused = {"model": "canary", "messages": [{"role": "user", "content": "[fault 401] no"}]}
        responses = [
            http.post("/predict", json={"rows": [{"input": "hi"}, {"input": "[fault 401] x"}]}),
            http.post("/v1/chat/completions", json=chat),
            http.post("/v1/chat/completions", json=refused),
            http.get("/ready"),
            http.get("/v1/models"),
            http.post("/admin/reload"),
        ]
    assert responses[2].status_code == 502, responses[2].text
    outputs += [r.text for r in responses]


def _cli_journey(store: Store, server: FakeOpenAIServer, env: dict[str, str]) -> list[Any]:
    """Every CLI command with ``--debug``, on a model whose key is the canary."""
    folder = store.folder
    config = folder / "canary.json"
    config.write_text(
        json.dumps(
            {"model": "canary-cli", "base_url": server.base_url, "api_key": f"env:{CANARY_VAR}"}
        )
    )
    second = folder / "canary2.json"
    second.write_text(config.read_text().replace("canary-cli", "canary-cli-2"))
    prompts = folder / "prompts.jsonl"
    prompts.write_text('"hello"\n{"input": "[fault 401] refused"}\n')
    runs = []

    def cli(*args: str) -> Any:
        done = run_cli(["--debug", *args], env, folder)
        runs.append(done)
        return done

    saved = cli("save", str(config), "--register", "--name", "cli", "--alias", "champion", "--json")
    assert saved.returncode == 0, saved.stderr[-2000:]
    uri = json.loads(saved.stdout)["model_uri"]
    assert cli("save", str(second), "--register", "--name", "cli", "--tag", "k=v").returncode == 0
    assert cli("register", uri, "--name", "cli-again").returncode == 0
    assert cli("promote", "cli", "2").returncode == 0
    assert cli("rollback", "cli").returncode == 0
    assert cli("versions", "cli").returncode == 0
    assert cli("show", "models:/cli@champion").returncode == 0
    assert cli("predict", "models:/cli/1", "hello").returncode == 0
    assert cli("predict", "models:/cli/1", "--file", str(prompts)).returncode == 1
    assert cli("plugins").returncode == 0
    runs.append(_cli_serve(folder, env))
    return runs


def _cli_serve(folder: Path, env: dict[str, str]) -> Any:
    """``llmreg --debug serve``: answer one good and one refused request, then stop."""
    port = free_port()
    command = [*llmreg_command(), "--debug", "serve", "models:/cli@champion", "--port", str(port)]
    command.append("--no-auth")
    process = subprocess.Popen(
        command, env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    texts = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        for text in ("hi", "[fault 401] no"):
            response = httpx.post(f"{url}/predict", json={"rows": [{"input": text}]}, timeout=30)
            texts.append(response.text)
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    assert texts and '"echo: hi"' in texts[0], (texts, stderr[-2000:])
    return subprocess.CompletedProcess(command, process.returncode, stdout + "".join(texts), stderr)


@pytest.mark.timeout(SLOW_TEST_TIMEOUT)
def test_the_canary_key_lands_nowhere(
    store: Store,
    fake_openai: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through save, register, load, predict, serve and the CLI: 0 occurrences of the canary."""
    canary = f"sk-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv(CANARY_VAR, canary)
    caplog.set_level(logging.DEBUG)
    fake_openai.reset()
    outputs: list[str] = []
    _api_journey(store, fake_openai, outputs)
    runs = _cli_journey(store, fake_openai, cli_env(store, **{CANARY_VAR: canary}))
    captured = capsys.readouterr()
    outputs += [captured.out, captured.err, caplog.text]
    outputs += [f"{r.stdout}\n{r.stderr}" for r in runs]
    files = [p for p in store.folder.rglob("*") if p.is_file()]
    in_files = {str(p): p.read_bytes().count(canary.encode()) for p in files}
    values = _mlflow_values(store)
    in_values = sum(v.count(canary) for v in values)
    in_outputs = sum(o.count(canary) for o in outputs)
    received = sum(r.authorization == f"Bearer {canary}" for r in fake_openai.requests)
    found = sum(in_files.values()) + in_values + in_outputs
    tally.note(
        "secrets",
        found=found,
        files=len(files),
        mlflow_values=len(values),
        log_chars=sum(len(o) for o in outputs),
        received=received,
    )
    assert received > 0, "the endpoint never received the canary: the search proves nothing"
    assert len(caplog.records) > 0 and any("DEBUG" in r.stderr for r in runs)
    assert {p: n for p, n in in_files.items() if n} == {}
    assert in_values == 0, [v for v in values if canary in v][:5]
    assert in_outputs == 0, [
        o[max(0, o.find(canary) - 300) :][:600] for o in outputs if canary in o
    ]
