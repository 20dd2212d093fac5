"""The CLI is quiet by default against a real ``mlflow server``: no third-party noise.

Each command runs as a user runs it (the ``llmreg`` console script in a fresh
process, stderr a pipe), without ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` in its
environment, so the defaults of llmreg-mlflow's ``llmreg_cli_setup`` are what is
tested. Artifacts go over HTTP (proxied), where MLflow would draw its
``Downloading artifacts`` bar; a run ending against a server would print its URL
on stdout.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.mlflow_server import MlflowServer, running_mlflow_server

LLMREG = str(Path(sys.executable).parent / "llmreg")
#: What third-party noise looks like on stderr or stdout.
NOISE = ("Downloading artifacts", "Uploading artifacts", "%|", "View run", "Warning", "WARNING")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server`` for the module."""
    with running_mlflow_server(tmp_path_factory.mktemp("quiet-server")) as running:
        yield running


def _run(server: MlflowServer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = server.url
    return subprocess.run(
        [LLMREG, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def _noise(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(n in line for n in NOISE)]


def test_save_show_predict_are_quiet_against_a_server(server: MlflowServer, tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(
        json.dumps({"provider": "echo", "model": "echo-quiet", "description": "quiet test"})
    )
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(f"row {i}") + "\n" for i in range(5)))
    saved = _run(server, tmp_path, "save", "d.json", "--register", "--name", "quiet", "--json")
    assert saved.returncode == 0, saved.stderr
    out = json.loads(saved.stdout)  # stdout is the JSON and nothing else
    assert out["registered"]["version"] == 1
    for args in (
        ("show", "models:/quiet/1"),
        ("predict", "models:/quiet/1", "hello"),
        ("predict", "models:/quiet/1", "--file", "rows.jsonl"),
    ):
        done = _run(server, tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert _noise(done.stderr) == [], (args, done.stderr)
        assert _noise(done.stdout) == [], (args, done.stdout)
        assert done.stderr.strip().splitlines() in ([], [f"store: {server.url}"]), done.stderr
    assert _noise(saved.stderr) == []
    answers = _run(server, tmp_path, "predict", "models:/quiet/1", "--file", "rows.jsonl").stdout
    assert len(answers.splitlines()) == 5


def test_debug_lets_mlflow_speak(server: MlflowServer, tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"provider": "echo", "model": "echo-loud"}))
    saved = _run(server, tmp_path, "save", "d.json", "--register", "--name", "loud")
    assert saved.returncode == 0, saved.stderr
    shown = _run(server, tmp_path, "--debug", "show", "models:/loud/1")
    assert shown.returncode == 0, shown.stderr
    assert "DEBUG" in shown.stderr or "Downloading artifacts" in shown.stderr


def test_predict_prints_progress_lines_when_stderr_is_not_a_terminal(
    saved: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from llmreg.cli import cli

    predict_cli = importlib.import_module("llmreg.cli.predict")

    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(f"row {i}") + "\n" for i in range(3)))
    uri = saved.uri  # type: ignore[attr-defined]
    monkeypatch.setattr(predict_cli, "PROGRESS_EVERY_S", 0.0)
    done = CliRunner().invoke(cli, ["predict", uri, "--file", str(rows), "--concurrency", "1"])
    assert done.exit_code == 0, done.output
    lines = [line for line in done.stderr.splitlines() if line.startswith("predict: ")]
    assert lines and lines[-1] == "predict: 3/3 rows"
    monkeypatch.setattr(predict_cli, "PROGRESS_EVERY_S", 3600.0)
    done = CliRunner().invoke(cli, ["predict", uri, "--file", str(rows)])
    assert "predict: " not in done.stderr  # a short run prints no progress line
