"""The FastAPI app: the routes of :mod:`predict`, :mod:`chat`, :mod:`info` and
:mod:`admin` put together around one :class:`~llmreg_gateway.context.GatewayContext`.

Use :func:`llmreg_gateway.create_app`; this module (which imports fastapi) is what
it imports on call.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Route

from llmreg.bases import AliasRegister, Loader
from llmreg.version import __version__
from llmreg_gateway import openapi as oa
from llmreg_gateway import sse
from llmreg_gateway.admin import AdminRoutes
from llmreg_gateway.admin_keys import AdminKeyRoutes
from llmreg_gateway.auth import KeyRing
from llmreg_gateway.background import lifespan
from llmreg_gateway.chat import ChatRoute
from llmreg_gateway.console import create_console
from llmreg_gateway.context import GatewayContext
from llmreg_gateway.controls import Controls
from llmreg_gateway.errors import ApiError, bad_request
from llmreg_gateway.fastpath import FastApp
from llmreg_gateway.info import InfoRoutes
from llmreg_gateway.observe import Observer, new_metrics
from llmreg_gateway.openapi_doc import document_maker
from llmreg_gateway.predict import PredictRoute
from llmreg_gateway.protocols import timed_h11_protocol, timed_http_protocol
from llmreg_gateway.registry import ServedModels
from llmreg_gateway.responses import error_response
from llmreg_gateway.rollout.state import RolloutStore
from llmreg_gateway.rollout.stats import InProcessSink, StatsSink
from llmreg_gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)


def build_app(
    models: ServedModels,
    settings: GatewaySettings,
    *,
    keys: KeyRing | None = None,
    register: AliasRegister | None = None,
    console_loader: Loader | None = None,
) -> FastAPI:
    """Build the app serving ``models`` as ``settings`` say; see
    :func:`llmreg_gateway.create_app`.

    ``app.state.llmreg_routes`` holds the :class:`GatewayContext`,
    ``app.state.llmreg_settings`` the settings, ``app.state.llmreg`` the first
    served model and ``app.state.llmreg_models`` all of them. ``register`` (one that
    lists models) feeds the rollouts' router and, with ``console_loader`` and an
    ``admin_key``, the console mounted at ``/console``.
    """
    observer = Observer(new_metrics() if settings.metrics else None, settings.access_log)
    ctx = GatewayContext(models, settings, keys=keys, observer=observer)
    # built here (no connection yet) so the console can hold it; closed by the lifespan
    ctx.controls = Controls.from_settings(settings.control_settings())
    ctx.controlled = settings.controlled
    ctx.priced = settings.prices is not None
    if register is not None and settings.rollout_interval > 0:
        ctx.rollouts = RolloutStore(register)
        ctx.rollout_stats = _stats_sink()
    app = FastApp(title="llmreg", version=__version__, summary=oa.SUMMARY, lifespan=lifespan(ctx))
    chat, predict = ChatRoute(ctx), PredictRoute(ctx)
    app.llmreg_fast = {
        ("POST", "/v1/chat/completions"): chat.chat,
        ("POST", "/predict"): predict.direct(),
    }
    app.state.llmreg = ctx.served
    app.state.llmreg_models = models
    app.state.llmreg_routes = ctx
    app.state.llmreg_settings = settings
    _add_model_routes(app, chat, predict)
    _add_server_routes(app, InfoRoutes(ctx), AdminRoutes(ctx))
    _add_key_routes(app, AdminKeyRoutes(ctx))
    app.openapi = document_maker(app, models)  # type: ignore[method-assign]
    _add_error_handlers(app)
    if register is not None and console_loader is not None and settings.admin_key is not None:
        # a mount: the fast path's exact (method, path) lookup never reaches it
        app.mount("/console", create_console(
            admin_key=settings.admin_key, register=register, loader=console_loader,
            controls=ctx.controls, stats=ctx.rollout_stats,
        ))  # fmt: skip
    return app


def _stats_sink() -> StatsSink:
    """The rollouts' stats sink: MLflow's run tags (what ``llmreg rollout watch`` reads,
    on MLflow's tracking URI), else in this process only."""
    try:
        from llmreg_gateway.rollout.mlflow_stats import MlflowRunSink

        return MlflowRunSink()
    except ImportError as exc:  # no mlflow here: the console still shows this replica's
        logger.warning("rollout stats stay in this process (%s): pip install mlflow", exc)
        return InProcessSink()


def _add_model_routes(app: FastAPI, chat: ChatRoute, predict: PredictRoute) -> None:
    errors = oa.COMMON_ERRORS
    event_stream = {sse.MEDIA_TYPE: {"schema": {"type": "string"}}}
    app.add_api_route(
        "/predict", predict.predict, methods=["POST"],
        responses={200: {"model": oa.PredictOutputs}, **errors},
    )  # fmt: skip
    app.add_api_route(
        "/v1/chat/completions", chat.chat, methods=["POST"],
        responses={200: {"model": oa.ChatCompletion, "content": event_stream,
                         "description": "the completion (server-sent events when stream)"},
                   **errors},
    )  # fmt: skip


def _add_server_routes(app: FastAPI, info: InfoRoutes, admin: AdminRoutes) -> None:
    errors = oa.COMMON_ERRORS
    app.add_api_route(
        "/v1/models", info.models_route, methods=["GET"],
        responses={200: {"model": oa.ModelList}, 401: errors[401]},
    )  # fmt: skip
    app.add_api_route(
        "/v1/models/{model_id:path}", info.model_route, methods=["GET"],
        responses={200: {"model": oa.ModelObject}, 400: errors[400], 401: errors[401],
                   403: errors[403], 404: errors[404]},
    )  # fmt: skip
    app.add_api_route(
        "/health", info.health, methods=["GET"], responses={200: {"model": oa.Health}}
    )
    app.add_api_route(
        "/ready", info.ready, methods=["GET"],
        responses={200: {"model": oa.ReadyBody}, 401: errors[401],
                   503: {"model": oa.ReadyBody, "description": "not loaded (yet)"}},
    )  # fmt: skip
    no_metrics = {"model": oa.ErrorBody, "description": "prometheus-client is not installed"}
    app.add_api_route(
        "/metrics", info.metrics, methods=["GET"],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                         "description": "Prometheus metrics"},
                   401: errors[401], 404: no_metrics},
    )  # fmt: skip
    app.add_api_route(
        "/admin/reload", admin.reload, methods=["POST"],
        responses={200: {"model": oa.ReloadBody}, 401: errors[401], 403: errors[403],
                   404: errors[404], 500: errors[500], 503: errors[503]},
    )  # fmt: skip


def _add_key_routes(app: FastAPI, keys: AdminKeyRoutes) -> None:
    errors: dict[int | str, dict[str, Any]] = {
        k: v for k, v in oa.COMMON_ERRORS.items() if k in (400, 401, 403, 404, 503)
    }
    app.add_api_route("/admin/keys", keys.create, methods=["POST"], responses=errors)
    app.add_api_route("/admin/keys", keys.list_keys, methods=["GET"], responses=errors)
    app.add_api_route("/admin/keys/{key_id}", keys.revoke, methods=["DELETE"], responses=errors)
    app.add_api_route(
        "/admin/keys/{key_id}/rotate", keys.rotate, methods=["POST"], responses=errors
    )
    app.add_api_route("/admin/usage", keys.usage, methods=["GET"], responses=errors)


def _add_error_handlers(app: FastAPI) -> None:
    """Answer the framework's own errors (404, 405, validation) in OpenAI's error shape."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        detail = exc.detail or "error"
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        response = error_response(
            ApiError(status, f"{request.method} {request.url.path}: {detail}", code=code)
        )
        allow = (exc.headers or {}).get("Allow")
        if status == 405:
            response.headers["Allow"] = _allowed_methods(app, request.url.path) or allow or ""
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        return error_response(bad_request(f"the request is invalid: {exc}"))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _allowed_methods(app: FastAPI, path: str) -> str:
    methods: set[str] = set()
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    for route in app.router.routes:
        if isinstance(route, Route) and route.matches(scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


__all__ = ["build_app", "timed_h11_protocol", "timed_http_protocol"]
