"""docs/quickstart.md's commands, run in order in a fresh folder against the real local model."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)
LLMREG = str(Path(sys.executable).parent / "llmreg")


def _commands() -> list[str]:
    page = (ROOT / "docs/quickstart.md").read_text()
    block = re.search(r"<!-- quickstart:start -->\n```bash\n(.*?)\n```", page, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    work = tmp_path_factory.mktemp("quickstart")
    shutil.copytree(ROOT / "examples", work / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    results = []
    for command in _commands():
        args = shlex.split(command)
        assert args[0] == "llmreg"
        done = subprocess.run(
            [LLMREG, *args[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        results.append(done)
    return work, results


def test_every_command_succeeds_and_the_store_is_local(ran):
    work, results = ran
    assert len(results) == 5
    assert (work / "mlflow.db").is_file()
    assert all(str(work / "mlflow.db") in r.stderr + r.stdout for r in results)


def test_versions_lists_version_1_with_its_alias(ran):
    _, results = ran
    assert re.search(r"^1\s+champion\s+sha256:", results[1].stdout, re.M)


def test_predict_answers_in_input_order(ran):
    work, results = ran
    assert results[2].stdout.strip()
    rows = [json.loads(line) for line in results[3].stdout.splitlines() if line.strip()]
    prompts = (work / "examples/prompts.jsonl").read_text().splitlines()
    assert len(rows) == len(prompts)
    assert all(r["metadata"]["status"] == "ok" and r["prediction"] for r in rows)
    assert [r["metadata"]["model"] for r in rows] == ["gemma-3-270m"] * len(prompts)


def test_show_names_version_and_definition(ran):
    _, results = ran
    shown = results[4].stdout
    assert "version: 1" in shown and '"provider": "llamacpp"' in shown
