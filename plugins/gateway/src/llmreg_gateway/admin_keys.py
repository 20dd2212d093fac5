"""The controls' admin routes, behind the admin key: managed keys and the usage ledger.

``POST /admin/keys`` (label, models, expires, limits, budget; answers the secret
once), ``GET /admin/keys``, ``DELETE /admin/keys/{id}``, ``POST
/admin/keys/{id}/rotate`` and ``GET /admin/usage``. ``llmreg keys`` calls them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from llmreg.errors import ConfigError
from llmreg_gateway.context import GatewayContext
from llmreg_gateway.controls import Controls
from llmreg_gateway.controls.budgets import Budget
from llmreg_gateway.controls.keys import KeyNotFoundError
from llmreg_gateway.controls.limits import Limits
from llmreg_gateway.errors import ApiError
from llmreg_gateway.responses import json_response

Action = Callable[[Controls, Request], Awaitable[Any]]


def _text_list(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: give a list of model names, or null for every model")
    return value


def _expires(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError("expires: give the expiry as epoch seconds, or null")
    return float(value)


class AdminKeyRoutes:
    """The managed-key and usage handlers, bound to the app's :class:`GatewayContext`."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx

    async def _run(self, request: Request, route: str, action: Action) -> Response:
        ctx = self.ctx
        try:
            ctx.keys.require_admin(request.headers.get("authorization"))
            if ctx.controls is None:
                raise ApiError(404, "this gateway has no controls", code="not_found")
            return json_response(await action(ctx.controls, request))
        except KeyNotFoundError as exc:
            return ctx.failure(route, ApiError(404, str(exc), code="key_not_found"))
        except Exception as exc:
            return ctx.failure(route, exc)

    async def create(self, request: Request) -> Response:
        """``POST /admin/keys``: create a managed key; the answer holds its secret, once."""

        async def action(controls: Controls, request: Request) -> Any:
            body = await self.ctx.body(request)
            if not isinstance(body, dict):
                raise ConfigError("the body must be a JSON object with at least a label")
            unknown = set(body) - {"label", "models", "expires", "limits", "budget"}
            if unknown:
                raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))}; known: "
                                  "label, models, expires, limits, budget")  # fmt: skip
            label = body.get("label")
            if not isinstance(label, str):
                raise ConfigError("label: give a label (who the key is for)")
            key, secret = await controls.keys.create(
                label,
                expires=_expires(body.get("expires")),
                models=_text_list(body.get("models"), "models"),
                limits=Limits.parse(body.get("limits"), "limits"),
                budget=Budget.parse(body.get("budget"), "budget"),
            )
            return {**key.to_json(), "secret": secret}

        return await self._run(request, "POST /admin/keys", action)

    async def list_keys(self, request: Request) -> Response:
        """``GET /admin/keys``: every managed key (hashes, never secrets)."""

        async def action(controls: Controls, request: Request) -> Any:
            return {"object": "list", "data": [k.to_json() for k in await controls.keys.list()]}

        return await self._run(request, "GET /admin/keys", action)

    async def revoke(self, request: Request, key_id: str) -> Response:
        """``DELETE /admin/keys/{id}``: revoke the key (kept for the usage report)."""

        async def action(controls: Controls, request: Request) -> Any:
            return (await controls.keys.revoke(key_id)).to_json()

        return await self._run(request, "DELETE /admin/keys/{id}", action)

    async def rotate(self, request: Request, key_id: str) -> Response:
        """``POST /admin/keys/{id}/rotate``: a new secret, answered once; the old one stops."""

        async def action(controls: Controls, request: Request) -> Any:
            key, secret = await controls.keys.rotate(key_id)
            return {**key.to_json(), "secret": secret}

        return await self._run(request, "POST /admin/keys/{id}/rotate", action)

    async def usage(self, request: Request, month: str | None = None) -> Response:
        """``GET /admin/usage?month=YYYY-MM``: requests, tokens and cost per key, model
        and version (default this month)."""

        async def action(controls: Controls, request: Request) -> Any:
            return {"object": "list", "data": await controls.budgets.usage(month)}

        return await self._run(request, "GET /admin/usage", action)


__all__ = ["AdminKeyRoutes"]
