"""llmreg-pyfunc end to end: provider "openai" (llmreg-litellm) against a real HTTP endpoint.

The endpoint is tests/support/openai_server.FakeOpenAIServer on 127.0.0.1. The
store is a real sqlite MLflow store, and once a real ``mlflow server``. MLflow's
own tools (pyfunc.load_model, models.predict, models serve) run the saved model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from llmreg.definition import ModelDefinition
from llmreg.errors import PredictionError
from llmreg_pyfunc import CustomLoader, CustomSaver
from llmreg_pyfunc.cache import MODEL_CACHE
from support.mlflow_server import MlflowServer
from support.openai_server import FakeOpenAIServer
from support.serve_process import free_port

pytestmark = pytest.mark.integration

KEY_ENV = "LLMREG_IT_OPENAI_KEY"
KEY = "sk-integration-not-a-real-key-42"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("pyfunc-it")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv(KEY_ENV, KEY)
        mp.chdir(root)
        yield root


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    MODEL_CACHE.clear()
    yield
    MODEL_CACHE.clear()


def _definition(endpoint: FakeOpenAIServer, model: str, **extra: Any) -> ModelDefinition:
    return ModelDefinition(
        provider="openai",
        model=model,
        base_url=endpoint.base_url,
        api_key=f"env:{KEY_ENV}",
        max_retries=0,
        **extra,
    )


@pytest.fixture(scope="module")
def saved(endpoint: FakeOpenAIServer, store: Path) -> Any:
    before = endpoint.count()
    info = CustomSaver(experiment="pyfunc-it").save(_definition(endpoint, "it-model"))
    assert endpoint.count() == before, "saving must not call the endpoint"
    version = mlflow.register_model(info.uri, "it-chat")
    MlflowClient().set_registered_model_alias("it-chat", "champion", version.version)
    return info


def test_save_needs_no_endpoint_and_keeps_no_key(saved: Any, store: Path) -> None:
    files = b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())
    assert KEY.encode() not in files
    # the provider's distribution is carried as a wheel (or pinned, installed from an index)
    assert b"llmreg_litellm-" in files or b"llmreg-litellm==" in files


@pytest.mark.parametrize(
    "uri",
    [
        "models:/it-chat@champion",
        "models:/it-chat/1",
        "{model_uri}",
        "runs:/{run_id}/{name}",
    ],
)
def test_round_trip_over_http(endpoint: FakeOpenAIServer, saved: Any, uri: str) -> None:
    # the logged model is named after the model (MLflow's artifact name in a runs:/ URI)
    uri = uri.format(model_uri=saved.uri, run_id=saved.run_id, name=saved.info["name"])
    before = endpoint.count(model="it-model")
    out = CustomLoader().load(uri).predict(["hello", "world"])
    assert out.predictions == ["echo: hello", "echo: world"]
    assert endpoint.count(model="it-model") == before + 2
    meta = out.rows[0].metadata
    assert meta["model"] == "it-model"
    assert meta["status"] == "ok"
    assert meta["model_uri"] == uri
    assert meta["usage"]["completion_tokens"] >= 1


def test_fallback_is_recorded_in_metadata(endpoint: FakeOpenAIServer, store: Path) -> None:
    definition = _definition(endpoint, "fault-500-primary", fallbacks=[{"model": "fallback-good"}])
    info = CustomSaver(experiment="pyfunc-it").save(definition)
    out = CustomLoader().load(info.uri).predict(["save me"])
    row = out.rows[0]
    assert row.prediction == "echo: save me"
    assert row.metadata["model"] == "fallback-good"
    assert row.metadata["fallback_index"] == 1
    assert endpoint.count(model="fault-500-primary") >= 1


def test_all_models_failing_gives_an_error_row(endpoint: FakeOpenAIServer, store: Path) -> None:
    definition = _definition(endpoint, "fault-401-bad", fallbacks=[{"model": "fault-500-also"}])
    info = CustomSaver(experiment="pyfunc-it").save(definition)
    adapter = CustomLoader().load(info.uri)
    out = adapter.predict(["no luck"])
    row = out.rows[0]
    assert row.prediction is None
    assert row.metadata["status"] == "error"
    assert row.metadata["error"]
    assert KEY not in json.dumps(row.metadata)
    with pytest.raises(PredictionError):
        adapter.predict(["no luck"], params={"strict": True})


def test_mlflow_pyfunc_load_model(endpoint: FakeOpenAIServer, saved: Any) -> None:
    model = mlflow.pyfunc.load_model("models:/it-chat@champion")
    out = model.predict(
        pd.DataFrame({"messages": [[{"role": "user", "content": "via mlflow"}]]}),
        params={"temperature": 0.3, "max_tokens": 50},
    )
    assert out["prediction"].tolist() == ["echo: via mlflow"]
    assert out["metadata"].tolist()[0]["run_id"] == saved.run_id


def test_mlflow_models_predict_local_env(saved: Any, tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    mlflow.models.predict(
        model_uri=saved.uri,
        input_data={"input": ["from models.predict"]},
        content_type="json",
        env_manager="local",
        output_path=str(output),
    )
    written = json.loads(output.read_text())
    # a DataFrame result is written as its records
    predictions = written["predictions"] if isinstance(written, dict) else written
    assert predictions[0]["prediction"] == "echo: from models.predict"
    assert predictions[0]["metadata"]["status"] == "ok"


def _post(url: str, payload: dict[str, Any]) -> Any:
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback URL
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def served(saved: Any, store: Path, endpoint: FakeOpenAIServer) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", saved.uri,
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    log = (store / "serve.log").open("wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2):  # noqa: S310
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "mlflow models serve did not start:\n"
                        + (store / "serve.log").read_text(errors="replace")[-3000:]
                    ) from None
                time.sleep(0.25)
        yield base
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["input"], "data": [["served split"]]}},
        {"dataframe_records": [{"input": "served records"}]},
        {"inputs": {"input": ["served inputs"]}},
        {
            "dataframe_records": [{"messages": [{"role": "user", "content": "served chat"}]}],
            "params": {"temperature": 0.5},
        },
    ],
)
def test_mlflow_models_serve(served: str, payload: dict[str, Any]) -> None:
    answer = _post(f"{served}/invocations", payload)
    (row,) = answer["predictions"]
    assert row["prediction"].startswith("echo: served ")
    assert row["metadata"]["status"] == "ok"
    assert row["metadata"]["model"] == "it-model"


def test_served_error_row_is_null_not_text(served: str) -> None:
    answer = _post(f"{served}/invocations", {"dataframe_records": [{"input": "[fault 500]x"}]})
    (row,) = answer["predictions"]
    assert row["prediction"] is None
    assert row["metadata"]["status"] == "error"


def test_round_trip_against_a_real_mlflow_server(
    endpoint: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    with MlflowServer(tmp_path / "server") as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.chdir(tmp_path)
        info = CustomSaver(experiment="over-http").save(_definition(endpoint, "http-model"))
        version = mlflow.register_model(info.uri, "http-chat")
        MlflowClient().set_registered_model_alias("http-chat", "champion", version.version)
        out = CustomLoader().load("models:/http-chat@champion").predict(["over http"])
    assert out.predictions == ["echo: over http"]
    assert out.rows[0].metadata["version"] == int(version.version)
