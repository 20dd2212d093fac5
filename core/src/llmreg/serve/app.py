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
from starlette.requests import ClientDisconnect

from llmreg.bases import Adapter
from llmreg.definition import MAX_JSON_DEPTH, json_depth
from llmreg.errors import LlmregError
from llmreg.schemas import Inputs, Outputs
from llmreg.secrets import redact
from llmreg.serve.errors import ApiError, bad_request, from_exception, row_failure
from llmreg.serve.model import ServedModel
from llmreg.serve.openai_compat import (
    completion,
    models_list,
    parse_chat_request,
    stream_chunks,
)
from llmreg.uris import shorten
from llmreg.version import __version__

logger = logging.getLogger(__name__)

#: Seconds a client has to send the whole request body once its headers arrived.
BODY_TIMEOUT_S = 30.0
#: Seconds a client has to send a request's headers (from connecting, or from the
#: first byte of a request on a kept-alive connection).
HEADER_TIMEOUT_S = 10.0


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


def masked(served: ServedModel | None, text: str) -> str:
    """``text`` with the served model's secrets masked in every form (and URL user-info)."""
    if served is None:
        return redact(text)
    text = served.redact(text)
    adapter = served.adapter
    definition = adapter.definition if adapter is not None else None
    return redact(text, definition.resolved_secrets() if definition is not None else ())


def _error(err: ApiError, served: ServedModel | None = None) -> Response:
    err.message = masked(served, err.message)
    return _json(err.body(), err.status)


async def read_json(request: Request, limit: int, timeout: float = BODY_TIMEOUT_S) -> Any:
    """Read the request body as UTF-8 JSON, at most ``limit`` bytes, within ``timeout`` s.

    Raises:
        ApiError: 413 for an oversized body; 408 for a body that does not arrive in
            time; 400 for an empty, non-UTF-8, non-JSON or too deeply nested one
            (``NaN`` and ``Infinity`` are not JSON); 400 ``client_disconnected`` when
            the client went away while sending (logged at INFO: nobody reads the answer).
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is larger than {limit} bytes", code="too_large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(
                        413, f"the request body is larger than {limit} bytes", code="too_large"
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {timeout:g} s ({size} bytes came)",
            code="body_timeout",
        ) from None
    except ClientDisconnect:
        logger.info(
            "%s %s: the client disconnected while sending the body",
            request.method,
            request.url.path,
        )
        raise ApiError(400, "the client disconnected", code="client_disconnected") from None
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
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise bad_request(
            f"the request body is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed",
            code="invalid_json",
        )
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise bad_request(
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})",
            code="invalid_json",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise bad_request(
            f"the request body is not valid JSON ({exc})", code="invalid_json"
        ) from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class Routes:
    """The route handlers, bound to one served model."""

    def __init__(
        self, served: ServedModel, max_body_bytes: int, body_timeout: float = BODY_TIMEOUT_S
    ) -> None:
        self.served = served
        self.max_body_bytes = max_body_bytes
        #: Seconds a client has to send a request body (``llmreg serve --body-timeout``).
        self.body_timeout = body_timeout

    async def body(self, request: Request) -> Any:
        """The request's JSON body (see :func:`read_json`)."""
        return await read_json(request, self.max_body_bytes, self.body_timeout)

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
                f"model {self.served.model_uri} is not loaded: {masked(self.served, str(exc))}",
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
                masked(self.served, trace),
            )
        return _error(from_exception(exc), self.served)

    async def predict(self, request: Request) -> Response:
        """``POST /predict``: llmreg Inputs JSON in, Outputs JSON out.

        Rows that failed carry ``status: error`` and no prediction; when every
        row failed the answer is a 502 with the typed error of the first.
        """
        try:
            inputs = Inputs.parse(await self.body(request))
            outputs = await self.predict_rows(inputs, None)
            if not any(row.ok for row in outputs.rows):
                raise row_failure(outputs.rows[0].metadata)
        except Exception as exc:
            return self.failure("POST /predict", exc)
        return _json(outputs.model_dump(mode="json"))

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: OpenAI-compatible, streaming or not."""
        try:
            chat = parse_chat_request(await self.body(request))
            if not self.served.accepts(chat.model):
                raise ApiError(
                    404,
                    f"model {shorten(chat.model)} is not served here; use "
                    f"{self.served.model_uri!r}"
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
                error = masked(self.served, self.served.last_error)
                body = {**body, "status": "failed", "error": error}
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
                f"{masked(self.served, str(exc))}",
                type=type(exc).__name__,
                code="reload_failed",
            )
            return _error(err, self.served)
        return _json({"model_uri": self.served.model_uri, **outcome})


async def _load_in_background(served: ServedModel) -> None:
    try:
        await run_in_threadpool(served.load)
    except Exception as exc:
        logger.warning("loading %s failed: %s", served.model_uri, masked(served, str(exc)))


async def _poll(served: ServedModel, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(served.reload)
        except Exception as exc:
            logger.warning(
                "reloading %s failed, keeping the loaded model: %s",
                served.model_uri,
                masked(served, str(exc)),
            )


def build_app(
    served: ServedModel,
    *,
    reload_interval: float,
    max_body_bytes: int,
    body_timeout: float = BODY_TIMEOUT_S,
) -> FastAPI:
    """Build the app; see :func:`llmreg.serve.create_app`.

    ``app.state.llmreg_routes`` holds the :class:`Routes` (its ``body_timeout`` can be
    changed before serving).
    """

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
    routes = Routes(served, max_body_bytes, body_timeout)
    app.state.llmreg_routes = routes
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


def timed_h11_protocol(header_timeout: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """Return uvicorn's h11 protocol class with a header timeout, for ``uvicorn.Config(http=)``.

    A client must send a request's headers within ``header_timeout`` seconds of
    connecting, or of the first byte of its next request on a kept-alive
    connection; otherwise it gets a 408 and the connection is closed (logged at
    INFO). uvicorn itself only times out idle kept-alive connections, so a client
    that sends its headers slowly would hold a connection forever.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimedH11Protocol(H11Protocol):  # type: ignore[misc,unused-ignore]
        """uvicorn's h11 protocol, closing connections whose headers do not arrive in time."""

        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first byte of the next request on a kept-alive connection
            super().data_received(data)

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a request's headers arrived
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            logger.info(
                "closing a connection from %s: no request headers within %g s",
                self.client,
                header_timeout,
            )
            body = json.dumps(
                ApiError(
                    408,
                    f"the request headers did not arrive within {header_timeout:g} s",
                    code="header_timeout",
                ).body()
            ).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            self.transport.close()

    return TimedH11Protocol


__all__ = [
    "BODY_TIMEOUT_S",
    "HEADER_TIMEOUT_S",
    "Routes",
    "build_app",
    "masked",
    "read_json",
    "timed_h11_protocol",
]
