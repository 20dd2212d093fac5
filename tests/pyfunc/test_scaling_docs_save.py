"""docs/scaling.md's saves without bundled wheels (``<!-- run: scaling-save -->``), as written.

Both blocks run in a fresh folder holding a ``chat.json`` (an ``echo`` model), on the
CLI's default store there: the saved model's requirements pin llmreg's
distributions by name and version, and the model carries no ``wheels`` artifact.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.docs import marked

BLOCKS = marked("docs/scaling.md", "scaling-save")


def _requirements(model_uri: str) -> list[str]:
    import mlflow

    return Path(mlflow.pyfunc.get_model_dependencies(model_uri)).read_text().splitlines()


def _check_plain_pins(model_uri: str) -> None:
    lines = _requirements(model_uri)
    assert any(line.startswith("llmreg==") for line in lines), lines
    assert not [line for line in lines if "wheels/" in line or line.endswith(".whl")], lines


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "chat.json").write_text(json.dumps({"provider": "echo", "model": "demo"}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def test_the_page_marks_a_command_and_its_python(folder: Path) -> None:
    assert [b.lang for b in BLOCKS] == ["bash", "python"]


def test_the_command_saves_with_plain_pins(folder: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", BLOCKS[0].body],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [uri] = set(re.findall(r"models:/m-[0-9a-f]+", done.stdout))  # what save prints
    _check_plain_pins(uri)


def test_the_python_saves_with_plain_pins(folder: Path) -> None:
    namespace: dict[str, object] = {"__name__": "docs_scaling"}
    exec(compile(BLOCKS[1].body, "docs/scaling.md", "exec"), namespace)  # noqa: S102
    _check_plain_pins(namespace["saved"].uri)  # type: ignore[attr-defined]
