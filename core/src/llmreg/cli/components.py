"""What the commands share: building the saver, loader and register, and reading options."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from llmreg.cli.app import Context
from llmreg.errors import ConfigError

if TYPE_CHECKING:
    from llmreg.bases import AliasRegister, Loader, Register, Role, Saver

# The bases and the plugin manager import pydantic (about 0.3 s): they are
# imported inside the functions, so ``llmreg --help`` does not pay for them.

T = TypeVar("T")

_TAG_KEY = re.compile(r"^[A-Za-z0-9_.\-/ ]{1,250}$")


def kind_config(role: Role, value: str) -> dict[str, Any]:
    """Turn a ``--saver``/``--loader``/``--register`` value into a component config.

    ``FolderSaver`` gives ``{"KIND": "FolderSaver"}``; a JSON object is taken as is.

    Raises:
        ConfigError: the value looks like JSON but is not a JSON object.
    """
    text = value.strip()
    if not text.startswith("{"):
        return {"KIND": text}
    from llmreg.jsonio import loads

    config = loads(text, f"the {role} config", ConfigError)
    if not isinstance(config, dict):
        raise ConfigError(f"the {role} config must be a JSON object with a KIND")
    return config


def current() -> Context:
    """Return the running command's :class:`Context`."""
    return click.get_current_context().find_object(Context) or Context(debug=False)


def _config(role: Role) -> dict[str, Any] | None:
    value = current().kinds.get(role)
    return None if value is None else kind_config(role, value)


def build_saver() -> Saver:
    """Build the saver the global options name (default: the installed plugins')."""
    return current().manager.saver(_config("saver"))


def build_loader() -> Loader:
    """Build the loader the global options name (default: the installed plugins')."""
    return current().manager.loader(_config("loader"))


def build_register(tags: dict[str, str] | None = None) -> Register:
    """Build the register the global options name, with ``tags`` for the versions it creates."""
    manager = current().manager
    config = _config("register") or manager.default("register")
    if tags:
        config = {**config, "tags": {**config.get("tags", {}), **tags}}
    return manager.register(config)


def build_alias_register() -> AliasRegister:
    """Build the register and check that it can move aliases.

    Raises:
        ConfigError: the register KIND does not implement :class:`~llmreg.AliasRegister`.
    """
    from llmreg.bases import AliasRegister

    register = build_register()
    if not isinstance(register, AliasRegister):
        raise ConfigError(
            f"register KIND {register.KIND} cannot list versions or move aliases: "
            "choose an AliasRegister KIND with --register"
        )
    return register


def parse_tags(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """Click callback: turn repeated ``--tag k=v`` into a dict; a malformed tag is a usage error."""
    tags: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep or not _TAG_KEY.match(key):
            raise click.BadParameter(
                f"{raw!r} is not KEY=VALUE (a key of letters, digits, _ . - / or space)",
                ctx=ctx,
                param=param,
            )
        tags[key] = value
    return tags


def tag_option(func: Any) -> Any:
    """Add the repeatable ``--tag KEY=VALUE`` option."""
    return click.option(
        "--tag",
        "tags",
        multiple=True,
        callback=parse_tags,
        metavar="KEY=VALUE",
        help="A tag on the registered version (repeatable).",
    )(func)


def checked(value: Any, expected: type[T], component: Any, method: str) -> T:
    """Return what a plugin method returned, checked to be an ``expected``.

    Raises:
        PluginContractError: it is not; the message names the KIND and the method.
    """
    from llmreg.results import check_result

    return cast(T, check_result(value, expected, f"{component.KIND}.{method}()"))
