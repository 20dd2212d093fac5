"""docs/cli.md's synopsis of ``llmreg serve`` names exactly the options the command takes."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from llmreg.cli.app import cli

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _synopsis() -> str:
    text = PAGE.read_text()
    found = re.search(r"^llmreg serve .*?(?=^llmreg \w)", text, re.S | re.M)
    assert found, "docs/cli.md lost the synopsis of llmreg serve"
    return found[0]


def test_the_synopsis_names_every_option_of_serve_and_no_other():
    done = CliRunner().invoke(cli, ["serve", "--help"])
    assert done.exit_code == 0, done.output
    options = done.output.partition("Options:")[2]  # the option list, not the prose above it
    taken = set(re.findall(r"^\s+(--[a-z][a-z-]*)", options, re.M)) - {"--help"}
    taken |= set(re.findall(r" / (--[a-z][a-z-]*)", options))  # --trace / --no-trace
    shown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", _synopsis()))
    assert shown - taken == set(), "the page names options serve does not take"
    assert taken - shown == set(), "serve takes options the page does not name"
