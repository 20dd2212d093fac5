"""The code of docs/production.md runs as written: copy a registry from sqlite to a server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg_mlflow import MlflowRegister
from support.docs import marked, page_blocks
from support.mlflow_server import MlflowServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "production.md"
ECHO_MODEL = Path(__file__).parents[1] / "mlflow" / "echo_model.py"
DOC_OLD_URI = "sqlite:///mlflow.db"


def _python_blocks(text: str) -> list[str]:
    """The page's python blocks, every one marked ``<!-- run: production -->``."""
    page = str(DOC.relative_to(ROOT))
    blocks = [b.body for b in page_blocks(page) if b.lang == "python"]
    assert blocks == [b.body for b in marked(page, "production")], "mark every python block"
    return blocks


def _fill_old_store(name: str) -> None:
    """Three versions (two of the same content, forced) and two alias moves, on sqlite."""
    import mlflow

    register = MlflowRegister(tags={"team": "nlp"}, description="copied bot")
    for content, force in (("one", False), ("one", True), ("two", False)):
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(ECHO_MODEL),
                pip_requirements=["mlflow"],
                metadata={CONTENT_HASH_KEY: content_hash([content])},
            )
        register.register(name, info.model_uri, force=force)
    register.promote(name, 1)
    register.promote(name, 3)


def test_the_copy_function_moves_a_registry_to_a_server(tmp_path, monkeypatch) -> None:
    import mlflow

    name = f"bot-{uuid.uuid4().hex[:8]}"
    old_folder = tmp_path / "old"
    old_folder.mkdir()
    monkeypatch.chdir(old_folder)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", DOC_OLD_URI)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    _fill_old_store(name)

    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 2
    with MlflowServer(tmp_path / "server") as server:
        namespace: dict[str, object] = {"__name__": "docs_example", "new_server_uri": server.url}
        exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102
        exec(compile(blocks[1].replace("support-bot", name), str(DOC), "exec"), namespace)  # noqa: S102

        old = MlflowRegister(tracking_uri=DOC_OLD_URI)
        new = MlflowRegister(tracking_uri=server.url)
        keep = ("version", "aliases", "content_hash", "tags", "status")
        assert [{k: r.to_dict()[k] for k in keep} for r in new.versions(name)] == [
            {k: r.to_dict()[k] for k in keep} for r in old.versions(name)
        ]
        assert new.history(name) == old.history(name)
        assert int(new.rollback(name).version) == 1
        model = mlflow.MlflowClient(server.url, server.url).get_registered_model(name)
        assert model.description == "copied bot"
        loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        assert loaded.predict(["copied"]) == ["copied"]
