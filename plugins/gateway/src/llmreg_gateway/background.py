"""The app's background tasks: loading models, polling moved aliases, discovering models.

:func:`lifespan` starts them when the app starts and cancels them (and closes the
models) when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.concurrency import run_in_threadpool

from llmreg_gateway.context import GatewayContext
from llmreg_gateway.gctune import freeze_loaded, freeze_startup_objects
from llmreg_gateway.model import ServedModel
from llmreg_gateway.responses import masked

logger = logging.getLogger(__name__)


async def load_in_background(ctx: GatewayContext, served: ServedModel) -> None:
    """Load ``served``; a failure is logged and counted (``/ready`` shows it)."""
    try:
        await run_in_threadpool(served.load)
    except Exception as exc:
        ctx.note_failure(served, exc, "loading")
    else:  # what the load brought in lives as long as the server
        freeze_loaded()


async def poll(ctx: GatewayContext, served: ServedModel, interval: float) -> None:
    """Reload ``served`` every ``interval`` seconds (an alias may have moved)."""
    while True:
        await asyncio.sleep(interval)
        try:
            outcome = await run_in_threadpool(served.reload)
        except Exception as exc:
            ctx.note_failure(served, exc, "reloading")
        else:
            ctx.note_reload(served, outcome)


async def refresh_rollouts(ctx: GatewayContext, interval: float) -> None:
    """Read the active rollouts of the served ``NAME@ALIAS`` every ``interval`` seconds."""
    store = ctx.rollouts
    assert store is not None
    while True:
        by_alias: dict[str, list[str]] = {}
        for model in ctx.models:
            if model.name is not None and model.alias is not None:
                by_alias.setdefault(model.alias, []).append(model.name)
        try:
            found = []
            for alias, names in by_alias.items():
                for name in names:
                    rollout = await run_in_threadpool(store.load, name, alias)
                    if rollout is not None:
                        found.append(rollout)
            ctx.router.update(found)
            ctx.routing = len(ctx.router) > 0
            if ctx.routing:  # the counts go where the controller reads them
                await run_in_threadpool(ctx.rollout_stats.flush)
        except Exception as exc:  # the last table keeps routing until the registry answers
            logger.warning("reading the rollouts failed: %s", masked(None, str(exc)))
        await asyncio.sleep(interval)


class Tasks:
    """The background tasks of one app run."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self.running: list[asyncio.Task[None]] = []

    def start(self, model: ServedModel) -> None:
        """Start loading ``model`` (unless loaded) and polling it (an alias URI)."""
        if model.adapter is None:
            self.running.append(asyncio.create_task(load_in_background(self.ctx, model)))
        interval = self.ctx.settings.reload_interval
        if model.is_alias and interval > 0:
            self.running.append(asyncio.create_task(poll(self.ctx, model, interval)))

    async def discover(self) -> None:
        """List the registry for models gaining the alias, every ``discover_interval``."""
        while True:
            try:
                for model in await run_in_threadpool(self.ctx.models.discover_new):
                    self.start(model)
            except Exception as exc:
                logger.warning(
                    "listing the registry for new models failed: %s", masked(None, str(exc))
                )
            await asyncio.sleep(self.ctx.settings.discover_interval)

    async def stop(self) -> None:
        """Cancel every task and wait for them to end."""
        for task in self.running:
            task.cancel()
        for task in self.running:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def lifespan(ctx: GatewayContext) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The app's lifespan: freeze start-up objects, start the tasks; on stop, cancel
    them and close the models."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        freeze_startup_objects()
        tasks = Tasks(ctx)
        for model in ctx.models:
            tasks.start(model)
        if ctx.models.discover is not None and ctx.settings.discover_interval > 0:
            tasks.running.append(asyncio.create_task(tasks.discover()))
        if ctx.rollouts is not None and ctx.settings.rollout_interval > 0:
            tasks.running.append(
                asyncio.create_task(refresh_rollouts(ctx, ctx.settings.rollout_interval))
            )
        try:
            yield
        finally:
            await tasks.stop()
            if ctx.rollouts is not None:  # the last counts of this replica
                with contextlib.suppress(Exception):
                    await run_in_threadpool(ctx.rollout_stats.flush)
            ctx.models.close()
            if ctx.controls is not None:
                await ctx.controls.close()

    return run


__all__ = ["Tasks", "lifespan", "load_in_background", "poll"]
