"""``llmreg evaluate`` end to end, as a user runs it (``llmreg`` subprocesses, the CLI's
default sqlite store in a fresh folder), on the two local models:

- the echo endpoint (the fake OpenAI server through the ``openai`` provider), judged
  by the same server's ``judge-yes``/``judge-no`` models through MLflow's judge API;
- the real Gemma 3 270M under llama.cpp (llmreg-llamacpp), judged by a real LLM: the
  same model behind a llama.cpp server, as an ``openai:/`` judge (``OPENAI_BASE_URL``),
  whose JSON answer llama.cpp constrains to the judge's response schema.

Then ``llmreg promote --require`` reads the metrics the evaluation kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.integration


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "OPENAI_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    return {**env, **extra}


def llmreg(folder: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``llmreg ARGS`` in ``folder``; return the completed process."""
    exe = str(Path(sys.executable).parent / "llmreg")
    return subprocess.run(
        [exe, *args],
        cwd=folder,
        env=_env(env or {}),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _ok(done: Any) -> Any:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done


def _dataset(folder: Path, rows: list[dict[str, str]]) -> Path:
    path = folder / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row_feedback(folder: Path, run_id: str) -> dict[str, dict[str, Any]]:
    """The feedback assessments of each row's trace in the evaluation run, by the row's
    input, read from the CLI's store in ``folder`` as the MLflow UI reads them."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    try:
        experiment_id = mlflow.get_run(run_id).info.experiment_id
        traces = mlflow.search_traces(locations=[experiment_id], run_id=run_id, return_type="list")
    finally:
        mlflow.set_tracking_uri(None)
    return {
        trace.data.spans[0].inputs["input"]: {
            a.name: a for a in trace.info.assessments if a.feedback is not None
        }
        for trace in traces
    }


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def test_echo_endpoint_evaluated_judged_and_gated(endpoint: FakeOpenAIServer, tmp_path: Path):
    config = tmp_path / "echo.json"
    config.write_text(
        json.dumps({"provider": "openai", "model": "m-eval", "base_url": endpoint.base_url})
    )
    judge_env = {"OPENAI_API_KEY": "judge-key", "OPENAI_BASE_URL": endpoint.base_url}
    _ok(llmreg(tmp_path, "save", str(config), "--register", "--name", "echo-bot"))
    data = _dataset(tmp_path, [{"input": q, "expected": f"echo: {q}"} for q in ("a", "b", "c")])
    done = _ok(
        llmreg(
            tmp_path, "evaluate", "models:/echo-bot/1", "--data", str(data),
            "--scorer", "exact_match", "--scorer", "mlflow:Correctness",
            "--scorer", 'mlflow:Guidelines(guidelines="Be brief.", model="openai:/judge-no")',
            "--judge-model", "openai:/judge-yes", "--json",
            env=judge_env,
        )
    )  # fmt: skip
    result = json.loads(done.stdout)
    metrics = result["metrics"]
    assert metrics == {
        "exact_match": 1.0,
        "correctness": 1.0,
        "guidelines": 0.0,
        "failed_rows": 0.0,
    }
    # each row's scores are the assessments of its trace in the evaluation run
    rows = _row_feedback(tmp_path, result["run_id"])
    assert sorted(rows) == ["a", "b", "c"]
    for said in rows.values():
        assert {name: a.value for name, a in said.items()} == {
            "exact_match": True,
            "correctness": "yes",
            "guidelines": "no",
        }
        assert said["exact_match"].source.source_type == "CODE"
        assert said["correctness"].source.source_type == "LLM_JUDGE"
        assert "judge-yes" in said["correctness"].source.source_id
        assert "judge-no" in said["guidelines"].source.source_id
    assert endpoint.count(model="m-eval") == 3
    assert endpoint.count(model="judge-yes") == 3 and endpoint.count(model="judge-no") == 3
    passed = _ok(llmreg(tmp_path, "promote", "echo-bot", "1", "--require", "correctness>=1"))
    assert "checked: require correctness>=1: 1 (candidate) ok" in passed.stdout
    refused = llmreg(tmp_path, "promote", "echo-bot", "1", "--require", "guidelines>=0.5")
    assert refused.returncode == 1
    assert "guidelines is 0, required >= 0.5" in refused.stderr


@pytest.fixture(scope="module")
def llama_judge() -> Iterator[str]:
    """A llama.cpp server with Gemma 3 270M (started by llmreg-llamacpp): its /v1 URL."""
    from llmreg import ModelDefinition
    from llmreg.manager import get_plugin_manager

    definition = ModelDefinition(provider="llamacpp", model="gemma-3-270m", timeout=300)
    client: Any = get_plugin_manager().client(definition)
    try:
        assert client.server is not None
        yield f"{client.server.url}/v1"
    finally:
        client.close()


def test_llamacpp_model_evaluated_and_judged_by_a_real_llm(llama_judge: str, tmp_path: Path):
    config = tmp_path / "gemma.json"
    config.write_text(
        json.dumps(
            {
                "provider": "llamacpp",
                "model": "gemma-3-270m",
                "max_tokens": 16,
                "temperature": 0,
                "timeout": 300,
            }
        )
    )
    _ok(llmreg(tmp_path, "save", str(config), "--register", "--name", "gemma-bot"))
    data = _dataset(
        tmp_path,
        [
            {"input": "What is the capital of France?", "expected": "Paris"},
            {"input": "What is the capital of Italy?", "expected": "Rome"},
        ],
    )
    judge = (
        'mlflow:Correctness(model="openai:/gemma-3-270m", '
        'inference_params={"max_tokens": 160, "temperature": 0})'
    )
    done = _ok(
        llmreg(
            tmp_path, "evaluate", "models:/gemma-bot/1", "--data", str(data),
            "--scorer", "contains", "--scorer", "json_valid", "--scorer", judge, "--json",
            env={"OPENAI_API_KEY": "none", "OPENAI_BASE_URL": llama_judge},
        )
    )  # fmt: skip
    result = json.loads(done.stdout)
    metrics = result["metrics"]
    print("llama.cpp evaluation:", json.dumps(metrics))  # shown with -s
    assert result["rows"] == 2
    assert metrics["failed_rows"] == 0.0  # the real model answered every row
    assert 0.0 <= metrics["contains"] <= 1.0 and metrics["json_valid"] in (0.0, 0.5, 1.0)
    # the real judge gave a verdict on at least one row (its answer parsed as yes/no)
    assert 0.0 <= metrics["correctness"] <= 1.0
    assert metrics.get("correctness_errors", 0.0) < 2.0, done.stderr
    # the real judge's verdict (or its failure) on each row is an LLM_JUDGE assessment
    rows = _row_feedback(tmp_path, result["run_id"])
    assert sorted(rows) == ["What is the capital of France?", "What is the capital of Italy?"]
    for said in rows.values():
        assert said["correctness"].source.source_type == "LLM_JUDGE"
        assert said["contains"].value in (True, False)
    versions = json.loads(_ok(llmreg(tmp_path, "versions", "gemma-bot", "--json")).stdout)
    tags = versions["versions"][0]["tags"]
    assert tags["llmreg.eval.correctness"] == str(metrics["correctness"])
