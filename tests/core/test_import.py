"""`import llmreg` stays thin: no plugin loading, no mlflow, openai or pandas."""

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

HEAVY = ("mlflow", "openai", "pandas", "numpy")


def _modules_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_llmreg_imports_no_heavy_module():
    loaded = _modules_after("import llmreg")
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]
    assert "pydantic" not in loaded  # the public names are lazy


def test_public_names_import_without_heavy_modules():
    loaded = _modules_after(
        "import llmreg\nfor name in llmreg.__all__: getattr(llmreg, name)\nimport llmreg.cli"
    )
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_the_version_and_the_hook_marker_import_no_pydantic():
    """What a plugin's entry point module touches first stays as light as ``import llmreg``."""
    loaded = _modules_after("import llmreg\nllmreg.__version__, llmreg.hookimpl, llmreg.CliSetup")
    assert "pydantic" not in loaded


@pytest.mark.skipif(os.environ.get("LLMREG_EXPECT_CORE_ONLY") != "1", reason="core-only env")
@pytest.mark.parametrize("name", HEAVY[:3])
def test_core_install_does_not_install_heavy_packages(name):
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution(name)


def test_unknown_attribute_is_an_attribute_error():
    import llmreg

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = llmreg.no_such_name
