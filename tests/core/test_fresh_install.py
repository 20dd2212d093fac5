"""`pip install ./core` into an empty venv gives a working `llmreg plugins`, and nothing heavy.

Then the guides' console blocks run there as written: docs/writing-a-plugin.md
installs the example plugin from the repository (`pip install ./core
./tests/plugins/example`), lists it, saves and predicts with it from the
command line and from Python; docs/architecture.md runs its host example. A
block marked ``<!-- run: root -->`` runs in the repository's root, one marked
``<!-- run: scratch -->`` in an empty folder (shared by every such block, in page
order) into which each script a ``$ python X.py`` line names is copied, as a
reader saves the file the page shows. Each ``$`` line's output, where the page
shows one, must be what the command prints.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import llmreg

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("docs/writing-a-plugin.md", "docs/architecture.md")

RUN_BLOCK = re.compile(
    r"<!-- run: (?P<where>root|scratch) -->\n```console\n(?P<body>.*?)^```$", re.M | re.S
)
SOURCE = re.compile(r"^```\w*\n# file: (?P<path>[^\s#]+)\n", re.M)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(ROOT / "core")], check=True, timeout=600)
    return venv


def _env(venv: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LLMREG_") and k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def _run(venv, *args):
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        env=_env(venv),
        timeout=120,
    )


def test_core_alone_installs_nothing_heavy_and_lists_only_its_echo_provider(fresh_venv):
    probe = (
        "import importlib.util as u; "
        "print([m for m in ('mlflow', 'openai', 'pandas') if u.find_spec(m)])"
    )
    assert _run(fresh_venv, "python", "-c", probe).stdout.strip() == "[]"
    done = _run(fresh_venv, "llmreg", "plugins")
    assert done.returncode == 0, done.stderr
    version = llmreg.__version__
    assert done.stdout == (
        f"llmreg {version}\n"
        f"echo  (llmreg {version})\n"
        "  hooks: llmreg_register_providers\n"
        "  providers: echo\n"
    )


def console_blocks(page: str) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """The page's run blocks: (where, [(command, the output lines shown after it)])."""
    blocks = []
    for block in RUN_BLOCK.finditer((ROOT / page).read_text()):
        steps: list[tuple[str, list[str]]] = []
        for line in block["body"].splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                assert steps, f"{page}: a run block must start with a $ line"
                steps[-1][1].append(line)
        blocks.append((block["where"], steps))
    return blocks


def test_the_guides_commands_run_as_written(fresh_venv, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    ran = []
    for page in PAGES:
        shown = {Path(p).name: ROOT / p for p in SOURCE.findall((ROOT / page).read_text())}
        for where, steps in console_blocks(page):
            for command, output in steps:
                script = re.fullmatch(r"python (\S+\.py)", command)
                if script:
                    shutil.copy(shown[script[1]], scratch)
                done = subprocess.run(
                    ["bash", "-c", command],
                    cwd=ROOT if where == "root" else scratch,
                    capture_output=True,
                    text=True,
                    env=_env(fresh_venv),
                    timeout=600,
                )
                assert done.returncode == 0, f"{page}: `{command}` failed:\n{done.stderr}"
                if output:
                    assert done.stdout.splitlines() == output, f"{page}: `{command}`"
                ran.append(command)
    assert "pip install ./core ./tests/plugins/example" in ran
    assert {"llmreg plugins", "python usage.py", "python host.py"} <= set(ran)
