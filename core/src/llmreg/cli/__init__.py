"""The ``llmreg`` command line.

Every command takes ``--json`` for scripts. Plugins add commands through
:func:`~llmreg.hookspecs.llmreg_register_commands` (llmreg-gateway's ``serve``,
llmreg-pyfunc's ``evaluate``). Exit codes: 0 for success, 1 for a user error (one line on stderr, no
traceback unless ``--debug``), 2 for a usage error. Command modules import
heavy libraries inside their functions, so that ``llmreg --help`` and
``llmreg plugins`` start fast.
"""

from __future__ import annotations

from typing import Any

from llmreg.cli.app import cli

#: Every command and where it is defined: imported when it runs (or ``--help`` lists
#: them), so that a command pays only for its own module.
COMMANDS = {
    "save": "llmreg.cli.lifecycle:save",
    "register": "llmreg.cli.lifecycle:register",
    "promote": "llmreg.cli.lifecycle:promote",
    "rollback": "llmreg.cli.lifecycle:rollback",
    "versions": "llmreg.cli.lifecycle:versions",
    "show": "llmreg.cli.lifecycle:show",
    "predict": "llmreg.cli.predict:predict",
    "plugins": "llmreg.cli.plugins:plugins",
    "list": "llmreg.cli.registry:list_models",
    "history": "llmreg.cli.registry:history",
    "tag": "llmreg.cli.registry:tag",
    "describe": "llmreg.cli.registry:describe",
    "delete": "llmreg.cli.registry:delete",
    "diff": "llmreg.cli.registry:diff",
}
for _name, _target in COMMANDS.items():
    cli.add_lazy_command(_name, _target)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; the console script ``llmreg`` calls this."""
    return cli.main(args=argv, prog_name="llmreg", standalone_mode=True)


__all__ = ["cli", "main"]
