"""The fenced blocks of the docs, and which test runs each.

A block a test runs as written is marked by the line right above its fence:
``<!-- run: LABEL -->``. ``LABEL`` is a word (``root``, ``cli``), or a word and a
part (``quickstart:session``); the word names the test that claims the block, in
``RUNNERS`` below. ``tests/core/test_docs_code.py`` fails when a runnable block
(``bash``, ``console``, ``python``, or a fence with no language) carries no known
mark, unless it shows a file (``# file: <path>``: that file's own tests run it).
Output and references are fenced as ``text`` (or ``json``, ``toml``...), which no
test needs to run.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: The word of each ``<!-- run: WORD[:PART] -->`` mark, and the test file that runs those blocks.
RUNNERS = {
    "root": "tests/core/test_fresh_install.py",
    "scratch": "tests/core/test_fresh_install.py",
    "install": "tests/core/test_docs_code.py",
    "quickstart": "tests/integration/test_quickstart.py",
    "cli": "tests/integration/test_cli_docs.py",
    "serving": "tests/integration/test_serve_docs.py",
    "serve-clients": "tests/integration/test_serve_clients.py",
    "keys-file": "tests/gateway/test_keys_file.py",
    "gateway-options": "tests/gateway/test_controls_docs.py",
    "mlflow-ui": "tests/integration/test_mlflow_ui_docs.py",
    "production": "tests/integration/test_register_production_doc.py",
    "scaling": "tests/spark/test_scaling_docs.py",
    "scaling-save": "tests/pyfunc/test_scaling_docs_save.py",
    "rollouts": "tests/integration/test_rollouts_docs.py",
    "console": "tests/console/test_console_docs.py",
    "benchmarks": "tests/integration/test_benchmarks_docs.py",
    "reliability": "tests/integration/test_benchmarks_docs.py",
    "mlflow-plugin": "tests/mlflow/test_docs_example.py",
    "pyfunc-plugin": "tests/pyfunc/test_docs_example.py",
    "litellm-plugin": "tests/litellm/test_docs_example.py",
    "llamacpp-plugin": "tests/llamacpp/test_docs.py",
}

#: The fence languages a reader runs (a fence with no language is read as one too).
RUNNABLE = {"", "bash", "sh", "shell", "console", "python", "py", "pycon"}

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^\n]*)\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
MARK = re.compile(r"^[ \t]*<!-- run: (?P<label>[\w.-]+(?::[\w.-]+)?) -->[ \t]*$")
SOURCE = re.compile(r"^\s*#\s*file:\s*\S+\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: str  #: the page, from the repository root (``docs/cli.md``)
    line: int  #: the fence's line, from 1
    lang: str  #: the fence's language, ``""`` when it names none
    title: str  #: its ``title="..."``, or ``""``
    body: str  #: the code, dedented
    label: str  #: the ``<!-- run: LABEL -->`` above it, or ``""``

    @property
    def runnable(self) -> bool:
        """Whether a reader runs it: a command or code that shows no file."""
        first = self.body.partition("\n")[0]
        return self.lang in RUNNABLE and not SOURCE.match(first)

    @property
    def where(self) -> str:
        """``page:line``, for messages."""
        return f"{self.page}:{self.line}"


def page_blocks(page: str) -> list[Block]:
    """Every fenced block of ``page`` (a path from the repository root), in order."""
    text = (ROOT / page).read_text(encoding="utf-8")
    found = []
    for fence in FENCE.finditer(text):
        before = text[: fence.start()].rstrip("\n").rpartition("\n")[2]
        mark = MARK.match(before)
        info = fence["info"].strip()
        title = re.search(r'title="([^"]+)"', info)
        found.append(
            Block(
                page=page,
                line=text.count("\n", 0, fence.start()) + 1,
                lang=info.split()[0] if info else "",
                title=title.group(1) if title else "",
                body=textwrap.dedent(fence["body"]),
                label=mark["label"] if mark else "",
            )
        )
    return found


def all_blocks() -> list[Block]:
    """Every fenced block of every page under docs/."""
    pages = sorted(DOCS.rglob("*.md"))
    return [b for p in pages for b in page_blocks(str(p.relative_to(ROOT)))]


def marked(page: str, label: str) -> list[Block]:
    """The blocks of ``page`` marked ``<!-- run: LABEL -->`` (or ``LABEL:PART`` for a word)."""
    return [b for b in page_blocks(page) if b.label == label or b.label.startswith(f"{label}:")]


def commands(body: str) -> list[tuple[str, list[str]]]:
    """Each ``$ `` line of a console block (continued by a trailing ``\\``), with its output."""
    out: list[tuple[str, list[str]]] = []
    pending = ""
    for line in body.splitlines():
        if pending:
            pending += "\n" + line
        elif line.startswith("$ "):
            pending = line[2:]
        elif out and line.strip():
            out[-1][1].append(line)
            continue
        else:
            continue
        if not pending.endswith("\\"):
            out.append((pending, []))
            pending = ""
    return out
