"""Runs the examples of docs/cli.md as written, in order, in a fresh folder.

The files the page shows (``chat.json``, ``prompts.jsonl``) are written from
their blocks, with the endpoint pointed at the fake OpenAI-compatible server.
Each ``$ llmreg ...`` line runs as a subprocess; the output lines shown under it
are checked (``...`` stands for what varies; the ``store:`` line names a path
that varies). An example shown failing must fail with the code shown: ``error:``
is exit 1, click's ``Error:`` exit 2.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from support.docs import page_blocks
from support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.integration

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"```(\w+)([^\n]*)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str, str]]:
    """(language, title, body) of each fenced block of the page, in order."""
    out = []
    for lang, head, body in BLOCK.findall(PAGE.read_text()):
        title = re.search(r'title="([^"]+)"', head)
        out.append((lang, title.group(1) if title else "", body))
    return out


def commands(body: str) -> list[tuple[str, list[str]]]:
    """Each ``$ `` line of a console block, with the output lines shown under it."""
    out: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out and line.strip():
            out[-1][1].append(line)
    return out


def matches(expected: str, actual: list[str]) -> bool:
    """Whether an expected output line is among the actual ones (``...`` is a wildcard)."""
    if expected.startswith("store: "):
        return any(line.startswith("store: sqlite:///") for line in actual)
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return any(re.fullmatch(pattern, line) for line in actual)


@pytest.mark.timeout(1500)  # about 15 CLI runs, each paying for an MLflow start
def test_the_cli_page_runs_as_written(tmp_path):
    marked_here = {b.label for b in page_blocks("docs/cli.md") if b.runnable}
    assert marked_here == {"cli"}, "this test runs every console block of the page"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OPENAI_API_KEY"] = "sk-docs-test"
    env.setdefault("LLMREG_DISABLE_PLUGINS", "llmreg-broken,llmreg-incompatible")
    ran = 0
    with FakeOpenAIServer() as endpoint:
        for lang, title, body in blocks():
            if title:
                text = body.replace("http://127.0.0.1:4000/v1", endpoint.base_url)
                (tmp_path / title).write_text(text)
            if lang != "console":
                continue
            for command, shown in commands(body):
                argv = shlex.split(command)
                assert argv[0] == "llmreg", command
                done = subprocess.run(
                    [str(Path(sys.executable).parent / "llmreg"), *argv[1:]],
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                expected_code = 1 if shown and shown[0].startswith("error:") else 0
                expected_code = 2 if shown and shown[0].startswith("Error:") else expected_code
                assert done.returncode == expected_code, f"{command}: {done.stderr}"
                actual = (done.stdout + done.stderr).splitlines()
                for line in shown:
                    assert matches(line, actual), f"{command}: {line!r} not in {actual}"
                ran += 1
    assert ran >= 10
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [a["prediction"] for a in answers] == [
        "echo: What is MLflow?",
        "echo: Name a colour.",
        "echo: Hi",
    ]
