"""Where the store is, as the plugins say (``llmreg_cli_setup``), and the ``store:`` line.

The core knows no store: a plugin that keeps models (llmreg-mlflow) reports where from
its :func:`~llmreg.hookspecs.llmreg_cli_setup` hook. A command that uses the store calls
:func:`use_store` (the plugin checks it first) and, once it succeeded, prints one
``store: ...`` line on stderr, user-info masked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from llmreg.errors import ModelNotFoundError, StoreUnavailableError
from llmreg.secrets import mask_userinfo


def use_store() -> dict[str, Any] | None:
    """Return where the first plugin that has a store says it is, prepared for use; or ``None``.

    The dict holds what the plugin reported, typically ``tracking_uri``,
    ``registry_uri`` (``None`` where it follows the tracking store) and ``source``,
    plus what its ``prepare`` returned (``created``).

    Raises:
        StoreUnavailableError: the plugin found the store unusable (named).
    """
    from llmreg.cli.components import current

    for setup in current().setups:
        if setup.store is not None:
            store = dict(setup.store)
            if setup.prepare is not None:
                store.update(setup.prepare() or {})
            return store
    return None


def reading_register() -> Any:
    """The register a reading command (``versions``, ``list``, ``history``) asks: a
    plugin's light reader for the register config (:attr:`~llmreg.hookspecs.CliSetup.reader`)
    where there is one, else the built :class:`~llmreg.bases.AliasRegister`."""
    from llmreg.cli.components import _config, build_alias_register, current

    context = current()
    readers = [s.reader for s in context.setups if getattr(s, "reader", None) is not None]
    if readers:
        config = _config("register") or context.manager.default("register")
        for reader in readers:
            found = reader(dict(config))
            if found is not None:
                return found
    return build_alias_register()


def shown(uri: str | None) -> str:
    """A store URI as messages show it: any ``user:password@`` masked."""
    return mask_userinfo(uri or "")


def shown_store(store: dict[str, Any] | None) -> dict[str, Any] | None:
    """The store dict as ``--json`` prints it: URIs with user-info masked."""
    if store is None:
        return None
    return {k: shown(v) if k.endswith("_uri") and v else v for k, v in store.items()}


@contextlib.contextmanager
def naming_store(store: dict[str, Any] | None) -> Iterator[None]:
    """Add the store to a "not found" or "unavailable" error raised in the block.

    A mistyped path can make a new, empty store: "model not found" then says so,
    and names it.
    """
    try:
        yield
    except (ModelNotFoundError, StoreUnavailableError) as exc:
        if store is None:
            raise
        where = shown(store.get("registry_uri") or store.get("tracking_uri"))
        note = ""
        if store.get("created"):
            note = " (a new, empty store created by this command: check the path)"
        if where not in str(exc) or note:
            exc.args = (f"{exc} [store: {where}{note}]",)
        raise


def say_store(store: dict[str, Any] | None) -> None:
    """Say where the store is, as one ``store: <uri>`` line on stderr.

    Commands call it after they succeeded, so that an error stays one line.
    """
    if store is None:
        return
    line = f"store: {shown(store.get('tracking_uri'))}"
    if store.get("registry_uri"):
        line += f" (registry: {shown(store['registry_uri'])})"
    click.echo(line, err=True)
