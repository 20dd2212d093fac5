"""The code examples of docs/plugins/mlflow.md run as written, on a real sqlite store."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from support.docs import marked, page_blocks

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins" / "mlflow.md"


def _python_blocks(text: str) -> list[str]:
    """The page's python blocks, every one marked ``<!-- run: mlflow-plugin -->``."""
    page = str(DOC.relative_to(ROOT))
    blocks = [b.body for b in page_blocks(page) if b.lang == "python"]
    assert blocks == [b.body for b in marked(page, "mlflow-plugin")], "mark every python block"
    return blocks


def test_the_examples_run(log_model, store) -> None:
    from mlflow import MlflowClient

    if "support-bot" in store.registered_model_names():
        MlflowClient().delete_registered_model("support-bot")
    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {
        "__name__": "docs_example",
        # What a saver returned: the page names these two.
        "model_uri": log_model("docs-v1").model_uri,
        "other_model_uri": log_model("docs-v2").model_uri,
    }
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    printed = out.getvalue()

    assert "[1, 2, 3]" in printed
    assert "1 3 models:/support-bot@champion" in printed  # the rollback's AliasMove
    assert "located: 1 champion True" in printed
    assert "3 versions" in printed
    assert "promoting version 99" in printed
    assert "does not exist or is not an MLflow model" in printed
    aliases = MlflowClient().get_registered_model("support-bot").aliases
    assert {k: int(v) for k, v in aliases.items()} == {"champion": 1, "challenger": 2}
    assert MlflowClient().get_registered_model("support-bot").description == "Support chat bot"
