"""The routes that tell about the server: ``/v1/models``, ``/health``, ``/ready``, ``/metrics``."""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from llmreg.version import __version__
from llmreg_gateway.completions import model_entry
from llmreg_gateway.context import GatewayContext
from llmreg_gateway.errors import ApiError, load_failed
from llmreg_gateway.model import ServedModel
from llmreg_gateway.responses import error_response, json_response, versioned


class InfoRoutes:
    """The informational handlers, bound to the app's :class:`GatewayContext`."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx

    async def models_route(self, request: Request) -> Response:
        """``GET /v1/models``: every served model (those the key may call), ids the URIs."""
        try:
            key = self.ctx.key(request)
        except Exception as exc:
            return self.ctx.failure("GET /v1/models", exc)
        entries = [model_entry(m.model_uri, m.loaded_at or 0) for m in self.ctx.allowed(key)]
        return json_response({"object": "list", "data": entries})

    async def model_route(self, request: Request, model_id: str) -> Response:
        """``GET /v1/models/{id}``: one served model, by URI, registered name or ``name@alias``."""
        try:
            served = self.ctx.pick(model_id, self.ctx.key(request))
        except Exception as exc:
            return self.ctx.failure("GET /v1/models/{id}", exc)
        entry = model_entry(served.model_uri, served.loaded_at or 0)
        return versioned(json_response(entry), served)

    async def health(self) -> Response:
        """``GET /health``: the process answers (never asks for a key)."""
        return json_response({"status": "ok", "llmreg": __version__, "pid": os.getpid()})

    async def ready(self, request: Request) -> Response:
        """``GET /ready``: 200 once the model is loaded, 503 before (with the last load error).

        With several models: 200 with ``status: ready`` when all are loaded,
        ``status: degraded`` when some are, 503 when none is; ``models`` lists each.
        ``controls`` is the controls' health (their state answers or not, and the
        policy when it does not).
        """
        if self.ctx.settings.protect_ready:
            try:
                self.ctx.key(request)
            except Exception as exc:
                return self.ctx.failure("GET /ready", exc)
        states = [_status(m) for m in self.ctx.models]
        controls = self.ctx.controls
        health = None
        # shown when in use: a memory state (the default) has nothing that can fail
        if controls is not None and (self.ctx.controlled or controls.state.kind != "memory"):
            health = (await controls.check()).as_dict()
        if len(states) == 1:
            ok, body = states[0]
        elif not states:
            ok, body = False, {"status": "loading", "models": []}
        else:
            loaded = sum(ok for ok, _ in states)
            status = "ready" if loaded == len(states) else "degraded" if loaded else "loading"
            ok, body = loaded > 0, {"status": status, "models": [body for _, body in states]}
        if health is not None:
            body["controls"] = health
        return json_response(body, 200 if ok else 503)

    async def metrics(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus metrics (404 without prometheus-client)."""
        if self.ctx.settings.protect_metrics:
            try:
                self.ctx.key(request)
            except Exception as exc:
                return self.ctx.failure("GET /metrics", exc)
        metrics = self.ctx.observer.metrics
        if metrics is None:
            return error_response(
                ApiError(404, "metrics need prometheus-client: pip install llmreg-gateway",
                         code="not_found")
            )  # fmt: skip
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)


def _status(served: ServedModel) -> tuple[bool, dict[str, Any]]:
    """Whether ``served`` is loaded, and its entry in ``/ready``."""
    if served.adapter is None:
        body: dict[str, Any] = {"status": "loading", "model_uri": served.model_uri}
        if served.last_error:
            body = {**body, "status": "failed", "error": load_failed(served.last_error)}
        return False, body
    return True, {"status": "ready", "model_uri": served.model_uri, "info": served.info}


__all__ = ["InfoRoutes"]
