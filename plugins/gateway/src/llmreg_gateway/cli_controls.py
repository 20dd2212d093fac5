"""``llmreg serve``'s options for the controls (state, prices, limits, budget, cache)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]


def control_options(command: F) -> F:
    """Add ``--state``, ``--prices``, ``--key-limits``, ``--key-budget``, ``--cache-ttl``
    and ``--cache-shared`` to ``command`` (settings of the same names, with ``_``)."""
    options = [
        click.option(
            "--state", default="memory://", show_default=True, metavar="URL",
            help="Where limits, budgets, managed keys and the cache live: memory:// (this "
            "process) or redis://HOST:PORT/DB (shared by every worker and server).",
        ),
        click.option(
            "--prices", type=click.Path(dir_okay=False), default=None,
            help="A JSON prices file: answers then carry usage.cost_usd, budgets count it.",
        ),
        click.option(
            "--key-limits", default=None, metavar="rpm=N,tpm=N,concurrent=N",
            help="Limits of each --api-key / --keys-file key (and of a --no-auth caller).",
        ),
        click.option(
            "--key-budget", default=None, metavar="USD/daily|monthly",
            help="The budget of each --api-key / --keys-file key; spent: HTTP 429.",
        ),
        click.option(
            "--cache-ttl", default=0.0, show_default=True, type=click.FloatRange(min=0),
            help="Seconds a chat answer is cached, per resolved version (0: no cache).",
        ),
        click.option(
            "--cache-shared", is_flag=True,
            help="One cache for every key (default: each key its own).",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


__all__ = ["control_options"]
