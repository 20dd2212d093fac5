"""Explicit pip requirements come from the llmreg distributions a model uses."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from llmreg import get_plugin_manager
from llmreg.definition import ModelDefinition
from llmreg.errors import UnknownKindError
from llmreg_pyfunc.requirements import pip_requirements


def _pin(dist: str) -> str:
    return f"{dist}=={importlib.metadata.version(dist)}"


def test_core_plugin_and_provider_are_pinned(providers: Any) -> None:
    reqs = pip_requirements(ModelDefinition(provider="echo", model="m"), get_plugin_manager())
    # the echo provider lives in the core distribution; llmreg-mlflow is the MLflow layer
    assert reqs == sorted([_pin("llmreg"), _pin("llmreg-mlflow"), _pin("llmreg-pyfunc")])


def test_unknown_provider_is_a_typed_error(providers: Any) -> None:
    with pytest.raises(UnknownKindError, match="nope"):
        pip_requirements(ModelDefinition(provider="nope", model="m"), get_plugin_manager())


def test_fallback_providers_are_checked(providers: Any) -> None:
    definition = ModelDefinition(
        provider="echo", model="m", fallbacks=[{"provider": "missing-provider", "model": "x"}]
    )
    with pytest.raises(UnknownKindError, match="missing-provider"):
        pip_requirements(definition, get_plugin_manager())


# --- self-contained models: the wheels of the llmreg distributions ----------------------


def test_source_installs_become_wheels_named_by_path(providers: Any) -> None:
    import zipfile

    from llmreg_pyfunc.requirements import model_requirements

    definition = ModelDefinition(provider="echo", model="m")
    bundled = model_requirements(definition, get_plugin_manager())
    # this env installs llmreg, llmreg-mlflow and llmreg-pyfunc from their source trees
    names = sorted(w.name.split("-")[0] for w in bundled.wheels)
    assert names == ["llmreg", "llmreg_mlflow", "llmreg_pyfunc"]
    assert bundled.lines == sorted(f"artifacts/wheels/{w.name}" for w in bundled.wheels)
    for wheel in bundled.wheels:
        with zipfile.ZipFile(wheel) as archive:
            package = wheel.name.split("-")[0]
            assert f"{package}/__init__.py" in archive.namelist()
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            version = importlib.metadata.version(package.replace("_", "-"))
            assert f"Version: {version}" in archive.read(metadata).decode()
    plain = model_requirements(definition, get_plugin_manager(), bundle=False)
    assert plain.lines == pip_requirements(definition, get_plugin_manager())
    assert plain.wheels == []


def test_a_cached_wheel_costs_no_build(providers: Any) -> None:
    import time

    from llmreg_pyfunc.requirements import model_requirements

    definition = ModelDefinition(provider="echo", model="m")
    first = model_requirements(definition, get_plugin_manager())
    started = time.perf_counter()
    again = model_requirements(definition, get_plugin_manager())
    elapsed = time.perf_counter() - started
    assert again == first
    assert elapsed < 0.5


def test_tree_hash_follows_content(tmp_path: Any) -> None:
    from llmreg_pyfunc.wheels import tree_hash

    (tmp_path / "src").mkdir()
    module = tmp_path / "src" / "m.py"
    module.write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    before = tree_hash(tmp_path)
    (tmp_path / "__pycache__" / "m.pyc").write_bytes(b"ignored")
    assert tree_hash(tmp_path) == before
    module.write_text("x = 2\n")
    assert tree_hash(tmp_path) != before


def test_index_installs_keep_their_pin() -> None:
    from llmreg_pyfunc.wheels import installed_from, wheel_for

    # pluggy comes from the package index in every env: nothing to carry
    assert installed_from("pluggy") is None
    assert wheel_for("pluggy") is None


def test_saved_model_carries_its_wheels(saved: Any, tmp_path: Any) -> None:
    from pathlib import Path

    import mlflow

    root = Path(mlflow.artifacts.download_artifacts(saved.uri, dst_path=str(tmp_path)))
    lines = (root / "requirements.txt").read_text().split()
    wheels = [line for line in lines if line.endswith(".whl")]
    assert len(wheels) == 3
    for line in wheels:
        assert (root / line).is_file()  # relative to the model folder, where MLflow installs
    size = sum((root / line).stat().st_size for line in wheels)
    assert size < 1_000_000
