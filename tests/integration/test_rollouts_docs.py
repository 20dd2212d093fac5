"""docs/rollouts.md's commands, run as written, in order, in a fresh folder.

The page starts from a registered ``chat`` whose ``@champion`` is version 3, with
candidates 4 and 5; the test makes those versions straight in the folder's
sqlite store (a rollout never loads a model), then runs each ``$`` line of the
blocks marked ``<!-- run: rollouts -->`` with bash, checks it exits 0 and prints
the lines the page shows (``...`` stands for any text), and reads the outcome
back from the registry: the promotion moved the alias, the abort left it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmreg_mlflow import MlflowRegister
from support.docs import commands, marked

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _shows(shown: str, printed: list[str]) -> bool:
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return any(re.fullmatch(pattern, line) for line in printed)


def _store(folder: Path) -> str:
    """The page's starting point: chat v1..v5, @champion on 3."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"  # the CLI's default store in this folder
    client = MlflowClient(uri, uri)
    client.create_registered_model("chat")
    source = folder / "artifacts"
    source.mkdir()
    for _ in range(5):
        client.create_model_version("chat", source.as_uri())
    client.set_registered_model_alias("chat", "champion", "3")
    return uri


def test_the_rollout_commands_run_as_written(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LLMREG_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["LLMREG_DISABLE_PLUGINS"] = "llmreg-broken,llmreg-incompatible"
    blocks = marked("docs/rollouts.md", "rollouts")
    assert [b.lang for b in blocks] == ["console", "console"]
    register = MlflowRegister(tracking_uri=uri)
    for number, block in enumerate(blocks):
        for command, shown in commands(block.body):
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{command}: {done.stderr}"
            printed = done.stdout.splitlines()
            for line in shown:
                assert _shows(line, printed), f"{command}: {line!r} not in {printed}"
        champion = {v.version: v.aliases for v in register.versions("chat")}
        assert "champion" in champion[4], champion  # promoted in block 1, kept by the abort
        if number == 0:
            moves = [m.action for m in register.history("chat")]
            assert "promote" in moves and moves.count("note") >= 3, moves
    status = subprocess.run(
        [str(Path(sys.executable).parent / "llmreg"), "rollout", "status", "chat", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert '"status": "aborted"' in status.stdout, status.stdout
