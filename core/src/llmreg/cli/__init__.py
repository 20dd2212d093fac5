"""The ``llmreg`` command line.

Every command takes ``--json`` for scripts (``serve`` excepted: it runs until
stopped). Exit codes: 0 for success, 1 for a user error (one line on stderr, no
traceback unless ``--debug``), 2 for a usage error. Command modules import
heavy libraries inside their functions, so that ``llmreg --help`` and
``llmreg plugins`` start fast.
"""

from __future__ import annotations

from typing import Any

from llmreg.cli.app import cli
from llmreg.cli.evaluate import evaluate
from llmreg.cli.lifecycle import promote, register, rollback, save, show, versions
from llmreg.cli.plugins import plugins
from llmreg.cli.predict import predict
from llmreg.cli.registry import delete, describe, diff, history, list_models, tag
from llmreg.cli.serve import serve

for _command in (
    save,
    register,
    promote,
    rollback,
    versions,
    show,
    predict,
    serve,
    plugins,
    list_models,
    history,
    tag,
    describe,
    delete,
    diff,
    evaluate,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; the console script ``llmreg`` calls this."""
    return cli.main(args=argv, prog_name="llmreg", standalone_mode=True)


__all__ = ["cli", "main"]
