"""The root command group, its global options and its error handling."""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from llmreg.errors import LlmregError
from llmreg.secrets import SECRETS

if TYPE_CHECKING:
    from llmreg.manager import PluginManager

FC = TypeVar("FC", bound=Callable[..., Any])

#: The ``ctx.meta`` key that says ``--json`` was given.
JSON_META = "llmreg.json"
#: The roles whose component the global options choose.
ROLES = ("saver", "loader", "register")


class Context:
    """What every command gets: the global flags, the manager, and the KIND config of each role.

    Attributes:
        debug: show tracebacks and DEBUG logs.
        kinds: for each role, a KIND name or a JSON object with a ``KIND`` (as given),
            or ``None``: the default an installed plugin registers
            (:func:`~llmreg.hookspecs.llmreg_defaults`).
        setups: what each plugin's ``llmreg_cli_setup`` returned (its store, its noise).
    """

    def __init__(self, debug: bool, kinds: dict[str, str | None] | None = None) -> None:
        self.debug = debug
        self.kinds: dict[str, str | None] = dict.fromkeys(ROLES)
        self.kinds.update(kinds or {})
        self.setups: list[Any] = []

    @property
    def manager(self) -> PluginManager:
        """The CLI's plugin manager: the process's default one (the CLI is its host)."""
        from llmreg.manager import get_plugin_manager

        return get_plugin_manager()


class LlmregGroup(click.Group):
    """A group that turns errors into one-line messages and exit code 1.

    With ``--json``, an error is one JSON object on stdout instead,
    ``{"error": {"type": ..., "message": ...}}``, with the same exit code (1, or 2
    for a usage error), so a script always has JSON to parse. ``--debug``
    re-raises instead, so the traceback is shown.

    Commands can be registered lazily (:meth:`add_lazy_command`): the module
    that defines one is imported only when that command runs (or ``--help``
    lists them), so that ``llmreg versions`` does not import what ``serve``,
    ``predict`` or ``evaluate`` need.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: command name -> ``"module:attribute"`` of a command not imported yet.
        self.lazy_commands: dict[str, str] = {}

    def add_lazy_command(self, name: str, target: str) -> None:
        """Register the command ``name`` defined at ``target`` (``"module:attribute"``),
        imported on first use."""
        self.lazy_commands[name] = target

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Note whether ``--json`` was given anywhere, so errors can be JSON too."""
        ctx.meta[JSON_META] = "--json" in args
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The names of the core's and the plugins' commands, sorted."""
        return sorted({*self.commands, *self.lazy_commands, *_plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, importing its module when it is registered lazily.

        A command of a plugin that is not installed (``serve`` without
        llmreg-gateway) is a command that says what to install.
        """
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            import importlib

            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        elif cmd_name not in self.commands and cmd_name in _plugin_commands():
            from llmreg.manager import get_plugin_manager

            command = get_plugin_manager().resolve("command", cmd_name)
            if not isinstance(command, click.Command):
                raise click.UsageError(f"the plugin command {cmd_name!r} is not a click command")
            self.add_command(command, cmd_name)
        elif cmd_name not in self.commands:
            return _missing_plugin_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning an error into ``error: <Type>: <message>`` and exit 1."""
        as_json = bool(ctx.meta.get(JSON_META))
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            if not as_json:
                raise
            _fail(type(exc).__name__, exc.format_message(), as_json, exc.exit_code)
        except BrokenPipeError:
            # stdout was closed early (``llmreg predict ... | head``): stop quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except LlmregError as exc:
            if _debug(ctx):
                raise
            _fail(type(exc).__name__, _one_line(exc), as_json)
        except Exception as exc:
            if _debug(ctx):
                raise
            _fail(
                f"unexpected {type(exc).__name__}",
                f"{_one_line(exc)} (rerun with --debug for details)",
                as_json,
            )


def _plugin_commands() -> set[str]:
    from llmreg.manager import get_plugin_manager

    return set(get_plugin_manager().commands())


def _missing_plugin_command(name: str) -> click.Command | None:
    """A stand-in for a command whose plugin is not installed: it says what to install."""
    from llmreg.manager import KNOWN_DISTRIBUTIONS

    dist = KNOWN_DISTRIBUTIONS.get(f"command:{name}")
    if dist is None:
        return None

    def missing(**_: Any) -> None:
        from llmreg.errors import UnknownKindError

        raise UnknownKindError(
            f"'llmreg {name}' is a command of {dist}, which is not installed: "
            f"pip install {dist} (from a checkout: pip install ./plugins/{dist.split('-')[-1]})"
        )

    return click.Command(
        name,
        callback=missing,
        help=f"(install {dist})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(Context)
    return bool(obj and obj.debug)


#: The longest error message the CLI prints, in characters; longer ones are cut.
MAX_MESSAGE_CHARS = 2000


def _one_line(exc: BaseException) -> str:
    text = redact(" ".join(str(exc).split()) or type(exc).__name__)
    if len(text) > MAX_MESSAGE_CHARS:
        text = f"{text[:MAX_MESSAGE_CHARS]}... ({len(text) - MAX_MESSAGE_CHARS} more characters)"
    return text


def _fail(kind: str, message: str, as_json: bool = False, code: int = 1) -> None:
    if as_json:
        error: dict[str, Any] = {"type": kind.removeprefix("unexpected "), "message": message}
        if kind.startswith("unexpected "):
            error["unexpected"] = True
        click.echo(json.dumps({"error": error}, sort_keys=True))
    else:
        click.echo(f"error: {kind}: {message}", err=True)
    sys.exit(code)


# --- secrets never reach a log line -----------------------------------------


def add_secrets(values: list[str]) -> None:
    """Remember secret values so that log lines and error messages mask them (every form)."""
    SECRETS.add(values)


def redact(text: str) -> str:
    """Return ``text`` with every remembered secret (and URL userinfo) masked."""
    return SECRETS.redact(text)


class RedactingFormatter(logging.Formatter):
    """A log formatter that masks the secrets registered with :func:`add_secrets`."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then mask secrets in the whole line (message and traceback)."""
        return redact(super().format(record))


def _cli_warnings(
    show: Callable[..., None], debug: bool, quiet: tuple[str, ...]
) -> Callable[..., None]:
    """Wrap ``warnings.showwarning`` for the CLI.

    A plugin that failed to load is one line, ``warning: <what and what to do>``.
    Warnings raised inside the packages that plugins name as noisy
    (:attr:`~llmreg.hookspecs.CliSetup.quiet`) are dropped unless ``--debug``
    (some reset the warning filters on import, so a filter would not hold).
    """
    parts = tuple(f"{os.sep}{name}{os.sep}" for name in quiet)

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
        elif debug or not any(part in filename for part in parts):
            show(message, category, filename, lineno, file, line)

    showwarning.llmreg_wrapped = show  # type: ignore[attr-defined]
    return showwarning


def _configure_logging(debug: bool, quiet: tuple[str, ...] = ()) -> None:
    show = getattr(warnings.showwarning, "llmreg_wrapped", warnings.showwarning)
    warnings.showwarning = _cli_warnings(show, debug, quiet)
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
        default=None,
        metavar="KIND",
        help=(
            f"The {role} KIND, or a JSON object with a KIND and its fields (env {env}); "
            "default: the one an installed plugin registers."
        ),
    )


@click.group(cls=LlmregGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and DEBUG logs.")
@_kind_option("saver")
@_kind_option("loader")
@_kind_option("register")
@click.version_option(package_name="llmreg", prog_name="llmreg")
@click.pass_context
def cli(
    ctx: click.Context,
    debug: bool,
    saver_kind: str | None,
    loader_kind: str | None,
    register_kind: str | None,
) -> None:
    """Save, load, register and serve LLM model definitions with MLflow."""
    obj = Context(
        debug=debug,
        kinds={"saver": saver_kind, "loader": loader_kind, "register": register_kind},
    )
    ctx.obj = obj
    _configure_logging(debug)
    # Each plugin prepares its store and names its noisy packages, before any
    # component is built (and so before a plugin imports its heavy libraries).
    obj.setups = obj.manager.cli_setup(debug)
    quiet = tuple(name for setup in obj.setups for name in setup.quiet)
    if quiet:
        _configure_logging(debug, quiet)


def json_option(func: Any) -> Any:
    """Add the ``--json`` flag every command takes."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
