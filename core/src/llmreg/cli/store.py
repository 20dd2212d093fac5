"""Where the store is, as the plugins say (``llmreg_cli_setup``), and the ``store:`` line.

The core knows no store: a plugin that keeps models somewhere (llmreg-mlflow:
the MLflow tracking and registry stores) sets its defaults and reports its
location from its :func:`~llmreg.hookspecs.llmreg_cli_setup` hook, which the
CLI calls before any command runs. Commands that read or write the store print
that location as one ``store: ...`` line on stderr once they succeed.
"""

from __future__ import annotations

from typing import Any

import click


def use_store() -> dict[str, Any] | None:
    """Return where the first plugin that has a store says it is, or ``None``.

    The dict holds what the plugin reported, typically ``tracking_uri``,
    ``registry_uri`` (``None`` where it follows the tracking store) and ``source``.
    """
    from llmreg.cli.components import current

    for setup in current().setups:
        if setup.store is not None:
            return dict(setup.store)
    return None


def say_store(store: dict[str, Any] | None) -> None:
    """Say where the store is, as one ``store: <uri>`` line on stderr.

    Commands call it after they succeeded, so that an error stays one line.
    """
    if store is None:
        return
    line = f"store: {store.get('tracking_uri')}"
    if store.get("registry_uri"):
        line += f" (registry: {store['registry_uri']})"
    click.echo(line, err=True)
