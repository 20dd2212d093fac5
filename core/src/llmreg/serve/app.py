"""The FastAPI app around a :class:`~llmreg.serve.model.ServedModel`. Imports fastapi.

Use :func:`llmreg.serve.create_app`; this module is what it imports on call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmreg.bases import Adapter
from llmreg.errors import LlmregError
from llmreg.schemas import Inputs, Outputs
from llmreg.serve.errors import ApiError, bad_request, from_exception, row_failure
from llmreg.serve.model import ServedModel
from llmreg.serve.openai_compat import (
    completion,
    models_list,
    parse_chat_request,
    stream_chunks,
)
from llmreg.version import __version__

logger = logging.getLogger(__name__)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


def _error(err: ApiError, served: ServedModel | None = None) -> Response:
    if served is not None:
        err.message = served.redact(err.message)
    return _json(err.body(), err.status)


async def read_json(request: Request, limit: int) -> Any:
    """Read the request body as UTF-8 JSON, at most ``limit`` bytes.

    Raises:
        ApiError: 413 for an oversized body; 400 for an empty, non-UTF-8 or non-JSON one.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is larger than {limit} bytes", code="too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes", code="too_large")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise bad_request("the request body is empty: send a JSON object", code="empty_body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(
            f"the request body is not UTF-8 (byte {exc.start}): send UTF-8 JSON",
            code="invalid_encoding",
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_request(
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})",
            code="invalid_json",
        ) from None


class Routes:
    """The route handlers, bound to one served model."""

    def __init__(self, served: ServedModel, max_body_bytes: int) -> None:
        self.served = served
        self.max_body_bytes = max_body_bytes

    async def adapter(self) -> Adapter:
        """Return the loaded adapter, loading it now if the start-up load has not run."""
        adapter = self.served.adapter
        if adapter is not None:
            return adapter
        try:
            loaded: Adapter = await run_in_threadpool(self.served.load)
        except LlmregError as exc:
            raise ApiError(
                503,
                f"model {self.served.model_uri} is not loaded: {exc}",
                type=type(exc).__name__,
                code="model_not_loaded",
            ) from None
        return loaded

    async def predict_rows(self, inputs: Inputs, params: dict[str, Any] | None) -> Outputs:
        """Await ``adapter.apredict``; its errors propagate as raised.

        The routes map them with :meth:`failure`, which logs an unexpected one.
        """
        adapter = await self.adapter()
        return await adapter.apredict(inputs, params)

    def failure(self, route: str, exc: Exception) -> Response:
        """Answer ``exc``, raised while serving ``route``, as its API error.

        An exception that is neither an :class:`ApiError` nor a
        :class:`~llmreg.errors.LlmregError` is a bug (in a plugin or here): it is
        logged at ERROR with its traceback, the loaded model's secrets masked,
        before the 500 is sent.
        """
        if not isinstance(exc, ApiError | LlmregError):
            trace = "".join(traceback.format_exception(exc)).rstrip()
            logger.error(
                "%s failed with an unexpected %s, answered 500:\n%s",
                route,
                type(exc).__name__,
                self.served.redact(trace),
            )
        return _error(from_exception(exc), self.served)

    async def predict(self, request: Request) -> Response:
        """``POST /predict``: llmreg Inputs JSON in, Outputs JSON out.

        Rows that failed carry ``status: error`` and no prediction; when every
        row failed the answer is a 502 with the typed error of the first.
        """
        try:
            inputs = Inputs.parse(await read_json(request, self.max_body_bytes))
            outputs = await self.predict_rows(inputs, None)
            if not any(row.ok for row in outputs.rows):
                raise row_failure(outputs.rows[0].metadata)
        except Exception as exc:
            return self.failure("POST /predict", exc)
        return _json(outputs.model_dump(mode="json"))

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: OpenAI-compatible, streaming or not."""
        try:
            chat = parse_chat_request(await read_json(request, self.max_body_bytes))
            if not self.served.accepts(chat.model):
                raise ApiError(
                    404,
                    f"model {chat.model!r} is not served here; use {self.served.model_uri!r}"
                    + (f" or {self.served.name!r}" if self.served.name else ""),
                    param="model",
                    code="model_not_found",
                )
            outputs = await self.predict_rows(Inputs(rows=[chat.row]), {"strict": True})
            result = outputs.rows[0]
            if not result.ok:
                raise row_failure(result.metadata)
        except Exception as exc:
            return self.failure("POST /v1/chat/completions", exc)
        if chat.stream:
            return StreamingResponse(
                stream_chunks(result, chat.model, chat.include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return _json(completion(result, chat.model))

    async def models(self) -> Response:
        """``GET /v1/models``: the served model, its id the URI."""
        return _json(models_list(self.served.model_uri, self.served.loaded_at or 0))

    async def health(self) -> Response:
        """``GET /health``: the process answers."""
        return _json({"status": "ok", "llmreg": __version__})

    async def ready(self) -> Response:
        """``GET /ready``: 200 once the model is loaded, 503 before (with the last load error)."""
        if self.served.adapter is None:
            body = {"status": "loading", "model_uri": self.served.model_uri}
            if self.served.last_error:
                body = {**body, "status": "failed", "error": self.served.last_error}
            return _json(body, 503)
        return _json(
            {"status": "ready", "model_uri": self.served.model_uri, "info": self.served.info}
        )

    async def reload(self) -> Response:
        """``POST /admin/reload``: load the URI again now (picks up a moved alias)."""
        try:
            outcome = await run_in_threadpool(self.served.reload)
        except LlmregError as exc:
            err = ApiError(
                503,
                f"reload of {self.served.model_uri} failed, the previous model keeps serving: "
                f"{exc}",
                type=type(exc).__name__,
                code="reload_failed",
            )
            return _error(err, self.served)
        return _json({"model_uri": self.served.model_uri, **outcome})


async def _load_in_background(served: ServedModel) -> None:
    try:
        await run_in_threadpool(served.load)
    except Exception as exc:
        logger.warning("loading %s failed: %s", served.model_uri, served.redact(str(exc)))


async def _poll(served: ServedModel, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(served.reload)
        except Exception as exc:
            logger.warning(
                "reloading %s failed, keeping the loaded model: %s",
                served.model_uri,
                served.redact(str(exc)),
            )


def build_app(served: ServedModel, *, reload_interval: float, max_body_bytes: int) -> FastAPI:
    """Build the app; see :func:`llmreg.serve.create_app`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if served.adapter is None:
            tasks.append(asyncio.create_task(_load_in_background(served)))
        if served.is_alias and reload_interval > 0:
            tasks.append(asyncio.create_task(_poll(served, reload_interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            served.close()

    app = FastAPI(
        title="llmreg",
        version=__version__,
        summary=f"Serving {served.model_uri}",
        lifespan=lifespan,
    )
    app.state.llmreg = served
    routes = Routes(served, max_body_bytes)
    app.add_api_route("/predict", routes.predict, methods=["POST"])
    app.add_api_route("/v1/chat/completions", routes.chat, methods=["POST"])
    app.add_api_route("/v1/models", routes.models, methods=["GET"])
    app.add_api_route("/health", routes.health, methods=["GET"])
    app.add_api_route("/ready", routes.ready, methods=["GET"])
    app.add_api_route("/admin/reload", routes.reload, methods=["POST"])

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", None) or "error"
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        return _error(ApiError(status, f"{request.method} {request.url.path}: {detail}", code=code))

    async def validation_error(request: Request, exc: Exception) -> Response:
        return _error(bad_request(f"the request is invalid: {exc}"))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    return app


__all__ = ["Routes", "build_app", "read_json"]
