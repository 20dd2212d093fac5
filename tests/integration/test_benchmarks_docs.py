"""The rerun commands of docs/benchmarks.md and docs/reliability.md name what exists.

These blocks (``<!-- run: benchmarks -->``, ``<!-- run: reliability -->``) rerun
measurements and test suites for minutes, so they are checked here, not timed:
each ``tox`` line names an env of tox.ini; each benchmark line runs a script of
``benchmarks/`` with options that script takes (checked by running it with
``--help`` where the line gives options, so a renamed script or option fails);
each ``pytest`` line names a folder the integration env runs.
"""

from __future__ import annotations

import configparser
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from support.docs import Block, commands, marked

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = {"python", ".venv/bin/python", ".tox/integration/bin/python"}
BLOCKS = [
    *marked("docs/benchmarks.md", "benchmarks"),
    *marked("docs/serving.md", "benchmarks"),
    *marked("docs/reliability.md", "reliability"),
]


def _lines(block: Block) -> list[str]:
    """The command lines of a bash or console block."""
    if block.lang == "console":
        return [command for command, _ in commands(block.body)]
    return [line for line in block.body.splitlines() if line.strip()]


def _tox() -> configparser.ConfigParser:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    return tox


def _check(words: list[str], where: str) -> None:
    tox = _tox()
    envs = [e.strip() for e in tox["tox"]["env_list"].split(",")]
    if words[0] == "tox":
        env = words[words.index("-e") + 1]
        assert env in envs, f"{where}: tox has no env {env!r}"
        return
    assert words[0] in PYTHONS, f"{where}: {shlex.join(words)} is no command this test knows"
    if words[1:3] == ["-m", "pytest"]:
        folder = words[3]
        assert (ROOT / folder).is_dir(), f"{where}: {folder} does not exist"
        assert folder in tox["testenv:integration"]["commands"], f"{where}: no env runs {folder}"
        return
    script, options = words[1], [w for w in words[2:] if w.startswith("--")]
    assert script.startswith("benchmarks/") and (ROOT / script).is_file(), f"{where}: {script}?"
    if not options:  # bench_import.py takes none, and runs on --help too
        return
    done = subprocess.run(
        [sys.executable, script, "--help"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{where}: {script} --help: {done.stderr}"
    for option in options:
        assert option in done.stdout.split(), f"{where}: {script} takes no {option}"


def test_every_page_keeps_its_rerun_commands() -> None:
    assert {b.page for b in BLOCKS} == {
        "docs/benchmarks.md",
        "docs/serving.md",
        "docs/reliability.md",
    }


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_a_rerun_command_names_an_env_a_script_and_options_that_exist(block: Block) -> None:
    for line in _lines(block):
        words = shlex.split(line, comments=True)
        while "=" in words[0]:  # VAR=value before the command
            words.pop(0)
        _check(words, f"{block.where}: {line}")
