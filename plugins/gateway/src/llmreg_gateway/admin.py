"""``POST /admin/reload``: load the served URI(s) again now, behind the admin key."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from llmreg.errors import LlmregError
from llmreg_gateway.context import GatewayContext
from llmreg_gateway.errors import ApiError
from llmreg_gateway.model import ServedModel
from llmreg_gateway.responses import error_response, json_response


class AdminRoutes:
    """The admin handlers, bound to the app's :class:`GatewayContext`."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx

    async def reload(self, request: Request, model: str | None = None) -> Response:
        """``POST /admin/reload``: load the URI(s) again now (picks up a moved alias).

        Needs the admin key. ``?model=`` reloads one model when several are served.
        """
        ctx = self.ctx
        try:
            ctx.keys.require_admin(request.headers.get("authorization"))
            targets = list(ctx.models) if not model else [ctx.pick(model, None)]
        except Exception as exc:
            return ctx.failure("POST /admin/reload", exc)
        answers = []
        for served in targets:
            try:
                answers.append(await self._reload_one(served))
            except ApiError as err:
                if len(targets) == 1:
                    return error_response(err, served)
                answers.append({"model_uri": served.model_uri, **err.body()})
        if len(targets) == 1:
            return json_response(answers[0])
        return json_response({"models": answers})

    async def _reload_one(self, served: ServedModel) -> dict[str, Any]:
        """Reload ``served``; its outcome with its URI.

        Raises:
            ApiError: 503 ``reload_failed`` (masked); the previous model keeps serving.
        """
        try:
            outcome = await run_in_threadpool(served.reload)
        except LlmregError as exc:
            self.ctx.note_failure(served, exc, "reload")
            raise ApiError(
                503,
                f"reload of {served.model_uri} failed ({type(exc).__name__}), the previous "
                "model keeps serving: the server's log has the detail",
                type=type(exc).__name__,
                code="reload_failed",
            ) from None
        self.ctx.note_reload(served, outcome)
        return {"model_uri": served.model_uri, **outcome}


__all__ = ["AdminRoutes"]
