"""The README's main-job command, run as written on a copy of the repository.

It installs llmreg and its plugins into a fresh venv, saves examples/chat.json,
registers it, promotes it to champion, loads it by alias and asks the real
local model (llama.cpp + Gemma 3 270M) a question. The answer's text is not
checked (a tiny base model), its structure and the registry state are.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The main job's tools/wheelhouse.py finds the wheel tox's first env built (or pip's cache).
pytestmark = pytest.mark.timeout(1800)
IGNORE = shutil.ignore_patterns(".venv", ".tox", "__pycache__", "*.egg-info", "mlruns", "*.db")


def _main_job_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- main-job:start -->\n```bash\n(.*?)\n```\n<!-- main-job:end -->", readme, re.S
    )
    assert block, "README lost its main-job block"
    return block.group(1)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    work = tmp_path_factory.mktemp("readme")
    for part in ("core", "plugins", "examples", "tools", ".wheelhouse"):
        shutil.copytree(ROOT / part, work / part, ignore=IGNORE)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "LLMREG_", "VIRTUAL_ENV"))
    }
    # As on a fresh machine, `python3` is the base interpreter (with pip), not this test's venv.
    base_bin = str(Path(sys.base_prefix) / "bin")
    venv_bin = str(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin]
    env["PATH"] = os.pathsep.join([base_bin, *path])
    done = subprocess.run(
        ["bash", "-c", _main_job_command()],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    return work, done


def test_main_job_answers_and_says_where_the_store_is(main_job):
    work, done = main_job
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert str(work / "mlflow.db") in done.stdout + done.stderr
    answer = done.stdout.strip().splitlines()[-1]
    assert answer.strip(), "the last line should be the model's answer"


def test_main_job_left_the_registry_in_the_promised_state(main_job):
    work, done = main_job
    assert done.returncode == 0
    from mlflow import MlflowClient

    client = MlflowClient(
        tracking_uri=f"sqlite:///{work}/mlflow.db", registry_uri=f"sqlite:///{work}/mlflow.db"
    )
    champion = client.get_model_version_by_alias("chat", "champion")
    assert int(champion.version) == 1  # an int on a local store, a string over HTTP
    assert [int(v.version) for v in client.search_model_versions("name='chat'")] == [1]


def test_main_job_compiled_nothing_again(main_job):
    _, done = main_job
    assert "is there, nothing to build" in done.stdout, done.stdout[-2000:]
