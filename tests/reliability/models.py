"""Save, register and load llmreg models through the plugin manager, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from llmreg import ModelDefinition
from llmreg.manager import get_plugin_manager

#: The environment variable the suite's definitions take their API key from.
KEY_VAR = "LLMREG_RELIABILITY_KEY"


def definition(base_url: str, model: str = "reliability-model", **fields: Any) -> ModelDefinition:
    """A definition for the fake endpoint, its key a reference to :data:`KEY_VAR`."""
    settings: dict[str, Any] = {"max_retries": 2, "timeout": 10.0, "api_key": f"env:{KEY_VAR}"}
    settings.update(fields)
    return ModelDefinition(provider="openai", model=model, base_url=base_url, **settings)


def save(model: ModelDefinition) -> str:
    """Save with ``CustomSaver`` and return the model URI."""
    return str(get_plugin_manager().saver({"KIND": "CustomSaver"}).save(model).uri)


def register(name: str, model_uri: str, **config: Any) -> int:
    """Register with ``MlflowRegister`` and return the version number."""
    register = get_plugin_manager().register({"KIND": "MlflowRegister", **config})
    return int(register.register(name, model_uri).version)


def load(uri: str) -> Any:
    """Load with ``CustomLoader`` and return the adapter."""
    return get_plugin_manager().loader({"KIND": "CustomLoader"}).load(uri)


def llmreg_command() -> list[str]:
    """The ``llmreg`` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "llmreg"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from llmreg.cli import main; main()"]


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> Any:
    """Run ``llmreg ARGS`` and return the completed process (text output)."""
    return subprocess.run(
        [*llmreg_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
