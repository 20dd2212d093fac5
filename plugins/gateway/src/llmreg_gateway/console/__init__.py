"""The console: llmreg in the browser, an ASGI app the gateway mounts at ``/console``.

Server-rendered pages with a small script layer (no bundler, every asset served
from this package): the registered models, their versions, alias history and
definition diffs; a playground that asks two or more versions the same prompt;
the rollouts with their numbers and decisions; the shared gateway's keys and
spend. It is off unless an admin key is configured; a person logs in with it.

Mount it in a FastAPI or Starlette app::

    from llmreg_gateway.console import create_console

    app.mount("/console", create_console(admin_key="env:LLMREG_ADMIN_KEY",
                                         register=register, loader=loader))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmreg_gateway.auth import resolve_reference

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from llmreg.bases import AliasRegister, Loader
    from llmreg_gateway.controls import Controls
    from llmreg_gateway.rollout.stats import StatsSink


def create_console(
    *,
    admin_key: str | None,
    register: AliasRegister,
    loader: Loader | None = None,
    controls: Controls | None = None,
    stats: StatsSink | None = None,
    tracking_uri: str | None = None,
) -> ASGIApp:
    """Build the console's ASGI app.

    Args:
        admin_key: a reference to the admin key, such as ``env:LLMREG_ADMIN_KEY``,
            resolved now; ``None`` turns the console off (every page answers 404).
        register: the registry the pages read and the rollout actions write.
        loader: loads versions for the playground and the definition diff; one that
            declares :class:`~llmreg.capabilities.EvaluationLogger` can save a
            comparison as evaluation runs.
        controls: the shared gateway's controls (managed keys, budgets, usage).
        stats: the rollouts' per-arm numbers (the gateway's rollout stats sink).
        tracking_uri: the MLflow tracking URI; an ``http(s)`` one gets UI links.

    Raises:
        ConfigError: ``admin_key`` is not ``env:NAME``, or the variable is unset.
    """
    from llmreg_gateway.console.app import console_app, off_app
    from llmreg_gateway.console.context import Console
    from llmreg_gateway.console.session import Sessions

    if admin_key is None:
        return off_app()
    key = resolve_reference(admin_key, "the console's admin key")
    console = Console(Sessions(key), register, loader, controls, stats, tracking_uri)
    return console_app(console)


__all__ = ["create_console"]
