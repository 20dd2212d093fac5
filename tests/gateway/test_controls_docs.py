"""The shared-gateway blocks of docs/serving.md and docs/console.md, marked
``<!-- run: gateway-options -->``, are checked, not run: they hold placeholders
(``...``, a Redis at 6379, a registered model) that a reader fills in. Every
``llmreg serve`` and ``llmreg keys`` line in them must use only options that the
command's ``--help`` lists, so the page cannot drift from the CLI.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from llmreg.cli import cli
from support.docs import marked

BLOCKS = [
    *marked("docs/serving.md", "gateway-options"),
    *marked("docs/console.md", "gateway-options"),
]
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")


def _help(*command: str) -> str:
    done = CliRunner().invoke(cli, [*command, "--help"])
    assert done.exit_code == 0, done.output
    return done.output


def _lines(body: str) -> list[str]:
    """The commands of a bash block, with ``\\`` continuations joined and comments cut."""
    text = re.sub(r"\\\n\s*", " ", body)
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.strip()]


def test_the_pages_mark_their_gateway_option_blocks():
    assert {b.page for b in BLOCKS} == {"docs/serving.md", "docs/console.md"}


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_every_option_a_block_uses_is_one_its_command_takes(block):
    for line in _lines(block.body):
        if line.startswith("llmreg serve"):
            known = _help("serve")
        elif line.startswith("llmreg keys"):
            sub = line.split()
            verb = next(w for w in sub[2:] if not w.startswith("-") and "://" not in w
                        and not w.startswith("env:") and w != "...")  # fmt: skip
            known = _help("keys") + _help("keys", "--url", "u", "--admin-key", "env:X", verb)
        else:
            continue
        unknown = [o for o in OPTION.findall(line) if o not in known]
        assert unknown == [], f"{block.where}: {line!r} uses options the CLI lacks"
