"""docs/quickstart.md, run as written: its blocks in page order, as one bash session,
in a copy of the repository, against the real local model.

The install block runs too: it installs into the copy's own ``.venv`` from the
wheelhouse (llama.cpp is compiled once per machine, by tox's first env), and the
rest of the session uses that venv, as a reader's shell would after ``activate``.
The one change to the text: port 8000 becomes a free port, so that the test
cannot meet another server. Answers are checked for structure, not wording.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.docs import commands, marked
from support.serve_process import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(1800)
BLOCKS = ("install", "session", "alias", "serve", "client")
IGNORE = shutil.ignore_patterns(".venv", ".tox", "__pycache__", "*.egg-info", "mlruns", "*.db")


def _page() -> str:
    return (ROOT / "docs/quickstart.md").read_text()


def _block(name: str) -> str:
    found = re.search(rf"<!-- run: quickstart:{name} -->\n```bash\n(.*?)\n```", _page(), re.S)
    assert found, f"docs/quickstart.md lost its {name} block"
    return found.group(1)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    work = tmp_path_factory.mktemp("quickstart")
    for part in ("core", "plugins", "examples", "tools", ".wheelhouse"):
        shutil.copytree(ROOT / part, work / part, ignore=IGNORE)
    client = re.search(
        r'<!-- run: quickstart:client.py -->\n```python title="client.py"\n(.*?)\n```',
        _page(),
        re.S,
    )
    assert client, "docs/quickstart.md lost client.py"
    port = str(free_port())
    (work / "client.py").write_text(client.group(1).replace("8000", port))
    script = ["set -euo pipefail"]
    for name in BLOCKS:
        script += [f"echo '=== {name}'", _block(name).replace("8000", port)]
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
        ["bash", "-c", "\n".join(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    parts = dict(re.findall(r"^=== (\w+)\n(.*?)(?=^=== |\Z)", done.stdout, re.S | re.M))
    return work, parts, done


def test_the_install_lists_every_plugin_and_compiles_nothing_again(ran):
    _, parts, _ = ran
    for plugin in ("gateway", "litellm", "pyfunc", "mlflow", "llamacpp"):
        assert re.search(rf"^{plugin}\s+\(llmreg-{plugin} ", parts["install"], re.M), plugin
    assert "is there, nothing to build" in parts["install"]


def test_the_session_saves_lists_predicts_and_shows_version_1(ran):
    work, parts, done = ran
    session = parts["session"]
    assert (work / "mlflow.db").is_file()
    assert str(work / "mlflow.db") in done.stdout + done.stderr
    assert re.search(r"^1\s+champion\s+sha256:", session, re.M)
    rows = [json.loads(line) for line in session.splitlines() if line.startswith('{"')]
    prompts = (work / "examples/prompts.jsonl").read_text().splitlines()
    assert len(rows) == len(prompts)
    assert all(r["metadata"]["status"] == "ok" and r["prediction"] for r in rows)
    assert "version: 1" in session and '"provider": "llamacpp"' in session


def test_version_2_is_diffed_promoted_and_rolled_back(ran):
    _, parts, _ = ran
    alias = parts["alias"]
    assert "system_prompt" in alias and "max_tokens" in alias
    assert "champion -> version 2" in alias
    assert re.search(r"champion -> version 1", alias.split("champion -> version 2", 1)[1])


def test_the_served_model_answers_the_openai_client_with_the_key(ran):
    _, parts, _ = ran
    assert parts["client"].strip(), "client.py printed no answer"


def test_the_architecture_pages_flow_is_lines_the_session_runs():
    """docs/architecture.md shows the main flow: each of its lines runs here, in order."""
    [flow] = marked("docs/architecture.md", "quickstart:flow")
    ran = [line for name in BLOCKS for line in _block(name).splitlines()]
    shown = [command for command, _ in commands(flow.body)]
    positions = [ran.index(command) for command in shown]  # ValueError: a line not run here
    assert positions == sorted(positions), "the page shows the lines in another order"
