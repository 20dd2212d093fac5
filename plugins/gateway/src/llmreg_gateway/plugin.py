"""The llmreg-gateway plugin: adds ``llmreg serve`` to the CLI, by import path.

Importing this module imports the hook marker and nothing else (no FastAPI, no
uvicorn), so ``llmreg plugins`` and every other command stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmreg.hookspecs import hookimpl

if TYPE_CHECKING:
    from llmreg.hookspecs import RegisterCommand

#: The ``serve`` command, imported when it runs.
SERVE_COMMAND = "llmreg_gateway.cli:serve"


@hookimpl
def llmreg_register_commands(register: RegisterCommand) -> None:
    """Register ``llmreg serve``, ``llmreg rollout`` and ``llmreg keys``."""
    register("serve", SERVE_COMMAND)
    register("rollout", "llmreg_gateway.rollout.cli:rollout")
    register("keys", "llmreg_gateway.keys_cli:keys")


__all__ = ["SERVE_COMMAND", "llmreg_register_commands"]
