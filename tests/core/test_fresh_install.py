"""`pip install ./core` into an empty venv gives a working `llmreg plugins`, and nothing heavy.

It also builds and installs the example plugin of docs/writing-a-plugin.md, as
a third party would, and checks the output the page shows.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(ROOT / "core")], check=True, timeout=600)
    return venv


def _run(venv, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREG_")}
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_core_alone_installs_nothing_heavy_and_lists_no_plugin(fresh_venv):
    probe = (
        "import importlib.util as u; "
        "print([m for m in ('mlflow', 'openai', 'pandas') if u.find_spec(m)])"
    )
    assert _run(fresh_venv, "python", "-c", probe).stdout.strip() == "[]"
    done = _run(fresh_venv, "llmreg", "plugins")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "no plugins loaded"


def test_example_plugin_builds_installs_and_matches_the_docs(fresh_venv):
    pip = [str(fresh_venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(ROOT / "tests/plugins/example")], check=True, timeout=600)
    done = _run(fresh_venv, "llmreg", "plugins")
    assert done.returncode == 0, done.stderr
    page = (ROOT / "docs/writing-a-plugin.md").read_text()
    shown = re.search(r"llmreg plugins\n```\n\n```\n(.*?)```", page, re.S).group(1)
    assert done.stdout == shown
