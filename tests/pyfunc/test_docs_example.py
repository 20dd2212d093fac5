"""The code examples of docs/plugins/pyfunc.md run as written, on a real sqlite store."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from support.docs import marked, page_blocks

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins" / "pyfunc.md"


def _python_blocks(text: str) -> list[str]:
    """The page's python blocks, every one marked ``<!-- run: pyfunc-plugin -->``."""
    page = str(DOC.relative_to(ROOT))
    blocks = [b.body for b in page_blocks(page) if b.lang == "python"]
    assert blocks == [b.body for b in marked(page, "pyfunc-plugin")], "mark every python block"
    return blocks


def test_the_examples_run(store: Path, providers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORT_BOT_KEY", raising=False)
    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "docs_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    printed = out.getvalue()
    assert "models:/m-" in printed
    assert "sha256: True" in printed
    assert "refused: signature inputs ['question']" in printed
    assert "refused: a secret value" in printed and "sk-docs-example-key" not in printed
    assert "['echo: Where is my order?']" in printed
    assert "ok 1 champion" in printed
    assert "None error" in printed
    assert "strict: row 1 failed" in printed
    assert "InvalidModelURIError" in printed
    assert "ModelNotFoundError alias @nobody" in printed
    # MLflow's own loader: a list of strings, the registry names, the chat format
    assert "['echo: Where is my order?', 'echo: Can I pay by card?']" in printed
    assert "support-bot 1 champion" in printed
    assert re.search(r"^echo: Where is my order\? \d+$", printed, flags=re.MULTILINE)
