"""The root command group, its global options and its error handling."""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import click

from llmreg.errors import LlmregError

FC = TypeVar("FC", bound=Callable[..., Any])

#: The KIND each role uses unless ``--saver``/``--loader``/``--register`` (or their
#: environment variables) name another.
DEFAULT_KINDS: dict[str, str] = {
    "saver": "CustomSaver",
    "loader": "CustomLoader",
    "register": "MlflowRegister",
}


class Context:
    """What every command gets: the global flags and the KIND config of each role.

    Attributes:
        debug: show tracebacks and DEBUG logs.
        kinds: for each role, a KIND name or a JSON object with a ``KIND`` (as given).
    """

    def __init__(self, debug: bool, kinds: dict[str, str] | None = None) -> None:
        self.debug = debug
        self.kinds = {**DEFAULT_KINDS, **(kinds or {})}


class LlmregGroup(click.Group):
    """A group that turns errors into one-line messages and exit code 1.

    ``--debug`` re-raises instead, so the traceback is shown.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning an error into ``error: <Type>: <message>`` and exit 1."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # stdout was closed early (``llmreg predict ... | head``): stop quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
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
    return redact(" ".join(str(exc).split()) or type(exc).__name__)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


# --- secrets never reach a log line -----------------------------------------

_SECRETS: set[str] = set()


def add_secrets(values: list[str]) -> None:
    """Remember secret values so that log lines and error messages mask them."""
    _SECRETS.update(v for v in values if len(v) >= 4)


def redact(text: str) -> str:
    """Return ``text`` with every remembered secret (in every form) and URL user-info masked."""
    from llmreg.secrets import redact as redact_forms

    return redact_forms(text, _SECRETS)


class RedactingFormatter(logging.Formatter):
    """A log formatter that masks the secrets registered with :func:`add_secrets`."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then mask secrets in the whole line (message and traceback)."""
        return redact(super().format(record))


def _cli_warnings(show: Callable[..., None], debug: bool) -> Callable[..., None]:
    """Wrap ``warnings.showwarning`` for the CLI.

    A plugin that failed to load is one line, ``warning: <what and what to do>``.
    MLflow's own warnings are dropped unless ``--debug`` (MLflow resets the filters,
    so a filter would not hold).
    """

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if category.__name__ == "LlmregPluginWarning" and not debug:
            click.echo(f"warning: {redact(str(message))}", err=True)
        elif debug or f"{os.sep}mlflow{os.sep}" not in filename:
            show(message, category, filename, lineno, file, line)

    showwarning.llmreg_wrapped = show  # type: ignore[attr-defined]
    return showwarning


def _configure_logging(debug: bool) -> None:
    if not debug:
        # Keep stderr for llmreg's own lines: MLflow's INFO logs would bury them.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    show = getattr(warnings.showwarning, "llmreg_wrapped", warnings.showwarning)
    warnings.showwarning = _cli_warnings(show, debug)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, RedactingFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def _kind_option(role: str) -> Callable[[FC], FC]:
    env = f"LLMREG_{role.upper()}"
    return click.option(
        f"--{role}",
        f"{role}_kind",
        envvar=env,
        default=DEFAULT_KINDS[role],
        show_default=True,
        metavar="KIND",
        help=f"The {role} KIND, or a JSON object with a KIND and its fields (env {env}).",
    )


@click.group(cls=LlmregGroup)
@click.option("--debug", is_flag=True, help="Show tracebacks and DEBUG logs.")
@_kind_option("saver")
@_kind_option("loader")
@_kind_option("register")
@click.version_option(package_name="llmreg", prog_name="llmreg")
@click.pass_context
def cli(
    ctx: click.Context, debug: bool, saver_kind: str, loader_kind: str, register_kind: str
) -> None:
    """Save, load, register and serve LLM model definitions with MLflow."""
    ctx.obj = Context(
        debug=debug,
        kinds={"saver": saver_kind, "loader": loader_kind, "register": register_kind},
    )
    _configure_logging(debug)


def json_option(func: Any) -> Any:
    """Add the ``--json`` flag every command takes."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
