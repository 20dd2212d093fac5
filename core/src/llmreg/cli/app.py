"""The root command group, its global options and its error handling."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from llmreg.errors import LlmregError


class Context:
    """What every command gets: the global flags."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug


class LlmregGroup(click.Group):
    """A group that turns errors into one-line messages and exit code 1.

    ``--debug`` re-raises instead, so the traceback is shown.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except LlmregError as exc:
            if _debug(ctx):
                raise
            _fail(f"{type(exc).__name__}: {_one_line(exc)}")
        except Exception as exc:
            if _debug(ctx):
                raise
            _fail(
                f"unexpected {type(exc).__name__}: {_one_line(exc)} "
                "(rerun with --debug for details)"
            )


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(Context)
    return bool(obj and obj.debug)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group(cls=LlmregGroup)
@click.option("--debug", is_flag=True, help="Show tracebacks and DEBUG logs.")
@click.version_option(package_name="llmreg", prog_name="llmreg")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Save, load, register and serve LLM model definitions with MLflow."""
    ctx.obj = Context(debug=debug)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def json_option(func: Any) -> Any:
    """Add the ``--json`` flag every command takes."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
