"""The code examples of docs/plugins/litellm.md run, against the fake server."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from support.docs import marked, page_blocks

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins" / "litellm.md"
#: The endpoint the examples name; the test points it at the fake server.
DOC_BASE_URL = "http://127.0.0.1:4000/v1"


def _python_blocks(text: str) -> list[str]:
    """The page's python blocks, every one marked ``<!-- run: litellm-plugin -->``."""
    page = str(DOC.relative_to(ROOT))
    blocks = [b.body for b in page_blocks(page) if b.lang == "python"]
    assert blocks == [b.body for b in marked(page, "litellm-plugin")], "mark every python block"
    return blocks


def test_the_examples_run(server, monkeypatch):
    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the page should hold the sync and the async example"
    assert all(DOC_BASE_URL in b for b in blocks[:1])
    assert "await client.aclose()" in blocks[1], "async code closes the client with aclose"
    monkeypatch.setenv("LITELLM_API_KEY", "sk-docs-example")
    namespace: dict[str, object] = {"__name__": "docs_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block.replace(DOC_BASE_URL, server.base_url), str(DOC), "exec"), namespace)  # noqa: S102
    printed = out.getvalue()
    assert "echo: What is MLflow?" in printed
    assert "echo: hi" in printed and "echo: bye" in printed
    assert "echo: from async code" in printed
    assert server.count("gpt-4o-mini") >= 4
    assert server.chat_requests("gpt-4o-mini")[0].authorization == "Bearer sk-docs-example"
