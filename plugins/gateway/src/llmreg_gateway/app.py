"""The FastAPI app around a :class:`~llmreg_gateway.model.ServedModel`. Imports fastapi.

Use :func:`llmreg_gateway.create_app`; this module is what it imports on call.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from llmreg.adapter import ClientAdapter
from llmreg.bases import Adapter
from llmreg.client import StreamChunk
from llmreg.definition import MAX_JSON_DEPTH, json_depth
from llmreg.errors import LlmregError
from llmreg.schemas import Inputs, Outputs
from llmreg.secrets import redact
from llmreg.uris import shorten
from llmreg.version import __version__
from llmreg_gateway import openapi as oa
from llmreg_gateway.auth import ApiKey, KeyRing
from llmreg_gateway.errors import ApiError, bad_request, from_exception, row_failure
from llmreg_gateway.model import ServedModel
from llmreg_gateway.observe import Observer, new_metrics
from llmreg_gateway.openai_compat import (
    ChatRequest,
    chunk_event,
    completion,
    model_entry,
    new_completion_id,
    parse_chat_request,
    passthrough_client,
    stream_chunks,
    usage_event,
)
from llmreg_gateway.registry import ServedModels
from llmreg_gateway.streaming import forward_stream

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
    # json_depth walks the text in Python; fewer brackets than the limit cannot nest deeper
    opened = text.count("[") + text.count("{")
    depth = json_depth(text) if opened > MAX_JSON_DEPTH else 0
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


def fingerprint(served: ServedModel) -> str:
    """The ``system_fingerprint`` of an answer: the registered name (or URI) and version."""
    return f"llmreg:{served.name or served.model_uri}:v{served.version or '?'}"


def _usage_of(result: Any) -> dict[str, Any] | None:
    metadata = getattr(result, "metadata", None) or {}
    usage = metadata.get("usage")
    return usage if isinstance(usage, dict) else None


class Routes:
    """The route handlers, bound to the served models, their keys and the observer.

    Args:
        models: the served models (a :class:`ServedModels`, or one :class:`ServedModel`).
        max_body_bytes: larger bodies get 413.
        body_timeout: seconds a client has to send a body.
        keys: the accepted keys; default an open ring (no key asked).
        observer: the access log and metrics; default an access log without metrics.
        protect_ready: ``/ready`` asks for an API key too.
        protect_metrics: ``/metrics`` asks for an API key too.
    """

    def __init__(
        self,
        models: ServedModels | ServedModel,
        max_body_bytes: int,
        body_timeout: float = BODY_TIMEOUT_S,
        *,
        keys: KeyRing | None = None,
        observer: Observer | None = None,
        protect_ready: bool = False,
        protect_metrics: bool = False,
    ) -> None:
        if isinstance(models, ServedModel):
            one = ServedModels.__new__(ServedModels)
            one.models = [models]
            one.discover = None
            models = one
        self.models = models
        self.max_body_bytes = max_body_bytes
        #: Seconds a client has to send a request body (``llmreg serve --body-timeout``).
        self.body_timeout = body_timeout
        self.keys = keys or KeyRing(open=True)
        self.observer = observer or Observer(None)
        self.protect_ready = protect_ready
        self.protect_metrics = protect_metrics

    @property
    def served(self) -> ServedModel | None:
        """The first served model (the only one, for a one-model app), or ``None``."""
        return self.models.first

    async def body(self, request: Request) -> Any:
        """The request's JSON body (see :func:`read_json`)."""
        return await read_json(request, self.max_body_bytes, self.body_timeout)

    def _key(self, request: Request) -> ApiKey | None:
        return self.keys.authenticate(request.headers.get("authorization"))

    def pick(self, model: str | None, key: ApiKey | None) -> ServedModel:
        """Return the served model a request's ``model`` names, checking the key may call it.

        Raises:
            ApiError: 404 for a model not served here (or none named when several are);
                403 for a key limited to other models.
        """
        served = self.models.find(model)
        if served is None:
            ids = ", ".join(repr(i) for i in self.models.ids())
            what = f"model {shorten(model)} is not served here" if model else "name a model"
            raise ApiError(
                404 if model else 400,
                f"{what}; use one of {ids}",
                param="model",
                code="model_not_found" if model else "model_required",
            )
        self.keys.authorize(key, served.ids)
        return served

    async def adapter(self, served: ServedModel | None = None) -> Adapter:
        """Return the loaded adapter, loading it now if the start-up load has not run."""
        served = served or self.served
        if served is None:
            raise ApiError(503, "no model is served yet", code="model_not_loaded")
        adapter = served.adapter
        if adapter is not None:
            return adapter
        try:
            loaded: Adapter = await run_in_threadpool(served.load)
        except LlmregError as exc:
            raise ApiError(
                503,
                f"model {served.model_uri} is not loaded: {masked(served, str(exc))}",
                type=type(exc).__name__,
                code="model_not_loaded",
            ) from None
        return loaded

    async def predict_rows(
        self, inputs: Inputs, params: dict[str, Any] | None, served: ServedModel | None = None
    ) -> Outputs:
        """Await ``adapter.apredict``; its errors propagate as raised.

        The routes map them with :meth:`failure`, which logs an unexpected one.
        """
        adapter = await self.adapter(served)
        return await adapter.apredict(inputs, params)

    def failure(self, route: str, exc: Exception, served: ServedModel | None = None) -> Response:
        """Answer ``exc``, raised while serving ``route``, as its API error.

        An exception that is neither an :class:`ApiError` nor a
        :class:`~llmreg.errors.LlmregError` is a bug (in a plugin or here): it is
        logged at ERROR with its traceback, the loaded model's secrets masked,
        before the 500 is sent.
        """
        served = served or self.served
        if not isinstance(exc, ApiError | LlmregError):
            trace = "".join(traceback.format_exception(exc)).rstrip()
            logger.error(
                "%s failed with an unexpected %s, answered 500:\n%s",
                route,
                type(exc).__name__,
                masked(served, trace),
            )
        err = from_exception(exc)
        response = _error(err, served)
        if err.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    def _record(
        self,
        request: Request,
        route: str,
        status: int,
        started: float,
        served: ServedModel | None,
        key: ApiKey | None,
        usage: dict[str, Any] | None = None,
        code: str | None = None,
        stream: bool = False,
    ) -> None:
        self.observer.record(
            method=request.method,
            route=route,
            status=status,
            started=started,
            model=served.name or served.model_uri if served else None,
            version=served.version if served else None,
            alias=served.alias if served else None,
            usage=usage,
            key_id=key.id if key else None,
            code=code,
            stream=stream,
        )

    def _versioned(self, response: Response, served: ServedModel | None) -> Response:
        if served is not None:
            response.headers["x-llmreg-model"] = served.model_uri
            response.headers["x-llmreg-model-version"] = served.version or ""
        return response

    async def predict(self, request: Request, model: str | None = None) -> Response:
        """``POST /predict``: llmreg Inputs JSON in, Outputs JSON out.

        ``?model=`` names the model when several are served. Rows that failed
        carry ``status: error`` and no prediction; when every row failed the
        answer is a 502 with the typed error of the first.
        """
        started = time.perf_counter()
        key = served = None
        try:
            key = self._key(request)
            served = self.pick(model or None, key)
            inputs = Inputs.parse(await self.body(request))
            outputs = await self.predict_rows(inputs, None, served)
            if not any(row.ok for row in outputs.rows):
                raise row_failure(outputs.rows[0].metadata)
        except Exception as exc:
            response = self.failure("POST /predict", exc, served)
            code = from_exception(exc).code
            self._record(request, "/predict", response.status_code, started, served, key, code=code)
            return self._versioned(response, served)
        usage: dict[str, int] = {"prompt_tokens": 0, "completion_tokens": 0}
        for row in outputs.rows:
            for kind in usage:
                usage[kind] += int((_usage_of(row) or {}).get(kind) or 0)
        self._record(request, "/predict", 200, started, served, key, usage)
        return self._versioned(_json(outputs.model_dump(mode="json")), served)

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: OpenAI-compatible, streaming or not."""
        started = time.perf_counter()
        key = served = None
        route = "/v1/chat/completions"
        try:
            key = self._key(request)
            chat = parse_chat_request(await self.body(request))
            served = self.pick(chat.model, key)
            if chat.extras and chat.stream:  # the endpoint's chunks as they come
                return await forward_stream(self, request, started, served, key, chat)
            if chat.extras:
                data = await self.forward(chat, served)
                return self._forwarded(request, route, started, served, key, chat, data)
            if chat.stream:
                adapter = await self.adapter(served)
                if isinstance(adapter, ClientAdapter):
                    stream = adapter.astream(chat.row)
                    first = await anext(stream)  # a failure before any text is an HTTP error
                    events = self._events(request, served, key, chat, stream, first, started)
                    streamed = StreamingResponse(
                        events, media_type="text/event-stream",
                        headers={"Cache-Control": "no-cache"},
                    )  # fmt: skip
                    return self._versioned(streamed, served)
            outputs = await self.predict_rows(Inputs(rows=[chat.row]), {"strict": True}, served)
            result = outputs.rows[0]
            if not result.ok:
                raise row_failure(result.metadata)
        except Exception as exc:
            response = self.failure("POST /v1/chat/completions", exc, served)
            code = from_exception(exc).code
            self._record(request, route, response.status_code, started, served, key, code=code)
            return self._versioned(response, served)
        system = fingerprint(served)
        usage = _usage_of(result)
        self._record(request, route, 200, started, served, key, usage, stream=chat.stream)
        if chat.stream:  # an adapter that cannot stream: the whole answer as events
            answer: Response = StreamingResponse(
                stream_chunks(result, chat.model, chat.include_usage, system),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        else:
            answer = _json(completion(result, chat.model, system))
        return self._versioned(answer, served)

    async def forward(self, chat: ChatRequest, served: ServedModel) -> dict[str, Any]:
        """Pass a request using tools, response_format, logprobs or n through the client.

        Raises:
            ApiError: 400 naming the first field the model's provider does not take.
            ProviderError: the endpoint (and every fallback) failed.
        """
        client = passthrough_client(await self.adapter(served), chat)
        assert chat.forward is not None
        data: dict[str, Any] = await client.achat(dict(chat.forward))
        return data

    def _forwarded(
        self,
        request: Request,
        route: str,
        started: float,
        served: ServedModel,
        key: ApiKey | None,
        chat: ChatRequest,
        data: dict[str, Any],
    ) -> Response:
        """Answer a passed-through request (not streamed: see llmreg_gateway.streaming)."""
        fp = fingerprint(served)
        data.pop("fallback_index", None)
        data.update(model=chat.model, system_fingerprint=fp)
        data.setdefault("id", new_completion_id())
        data.setdefault("created", int(time.time()))
        data["object"] = "chat.completion"
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        self._record(request, route, 200, started, served, key, usage)
        return self._versioned(_json(data), served)

    async def _events(
        self,
        request: Request,
        served: ServedModel,
        key: ApiKey | None,
        chat: ChatRequest,
        stream: AsyncIterator[StreamChunk],
        chunk: StreamChunk,
        started: float,
    ) -> AsyncIterator[str]:
        """The server-sent events of a streamed answer, sent as the upstream's text arrives.

        Role, text deltas, the finish reason, the usage (``include_usage``), ``[DONE]``.
        A failure mid-stream sends one ``data: {"error": ...}`` event (OpenAI's SDK
        raises it) instead of ``[DONE]``; the access log line is written at the end.
        """
        cid, created, fp = new_completion_id(), int(time.time()), fingerprint(served)
        model = chat.model
        status, code, usage = 200, None, None
        yield chunk_event(cid, created, model, {"role": "assistant", "content": ""}, None, fp)
        try:
            while True:
                if chunk.text:
                    yield chunk_event(cid, created, model, {"content": chunk.text}, None, fp)
                if chunk.done is not None:
                    done = chunk.done
                    usage = done.metadata().get("usage")
                    finish = done.finish_reason or "stop"
                    yield chunk_event(cid, created, model, {}, finish, fp)
                    if chat.include_usage:
                        yield usage_event(cid, created, model, done.metadata(), fp)
                    break
                chunk = await anext(stream, StreamChunk(done=None))
                if chunk.done is None and not chunk.text:
                    break
            yield "data: [DONE]\n\n"
        except Exception as exc:
            err = from_exception(exc)
            status, code = err.status, err.code
            err.message = masked(served, err.message)
            logger.warning("stream of %s broke: %s", served.model_uri, err.message)
            yield f"data: {json.dumps(err.body())}\n\n"
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
            self._record(request, "/v1/chat/completions", status, started, served, key,
                         usage, code=code, stream=True)  # fmt: skip

    def _allowed(self, key: ApiKey | None) -> list[ServedModel]:
        return [m for m in self.models if key is None or key.allows(m.ids)]

    async def models_route(self, request: Request) -> Response:
        """``GET /v1/models``: every served model (those the key may call), ids the URIs."""
        try:
            key = self._key(request)
        except Exception as exc:
            return self.failure("GET /v1/models", exc)
        entries = [model_entry(m.model_uri, m.loaded_at or 0) for m in self._allowed(key)]
        return _json({"object": "list", "data": entries})

    async def model_route(self, request: Request, model_id: str) -> Response:
        """``GET /v1/models/{id}``: one served model, by URI, registered name or ``name@alias``."""
        try:
            key = self._key(request)
            served = self.pick(model_id, key)
        except Exception as exc:
            return self.failure("GET /v1/models/{id}", exc)
        return self._versioned(_json(model_entry(served.model_uri, served.loaded_at or 0)), served)

    async def health(self) -> Response:
        """``GET /health``: the process answers (never asks for a key)."""
        return _json({"status": "ok", "llmreg": __version__, "pid": os.getpid()})

    @staticmethod
    def _status(served: ServedModel) -> tuple[bool, dict[str, Any]]:
        if served.adapter is None:
            body: dict[str, Any] = {"status": "loading", "model_uri": served.model_uri}
            if served.last_error:
                body = {**body, "status": "failed", "error": masked(served, served.last_error)}
            return False, body
        return True, {"status": "ready", "model_uri": served.model_uri, "info": served.info}

    async def ready(self, request: Request) -> Response:
        """``GET /ready``: 200 once the model is loaded, 503 before (with the last load error).

        With several models: 200 with ``status: ready`` when all are loaded,
        ``status: degraded`` when some are, 503 when none is; ``models`` lists each.
        """
        if self.protect_ready:
            try:
                self._key(request)
            except Exception as exc:
                return self.failure("GET /ready", exc)
        states = [self._status(m) for m in self.models]
        if len(states) == 1:
            ok, body = states[0]
            return _json(body, 200 if ok else 503)
        if not states:
            return _json({"status": "loading", "models": []}, 503)
        loaded = sum(ok for ok, _ in states)
        status = "ready" if loaded == len(states) else "degraded" if loaded else "loading"
        return _json(
            {"status": status, "models": [body for _, body in states]}, 200 if loaded else 503
        )

    async def metrics(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus metrics (404 without prometheus-client)."""
        if self.protect_metrics:
            try:
                self._key(request)
            except Exception as exc:
                return self.failure("GET /metrics", exc)
        metrics = self.observer.metrics
        if metrics is None:
            return _error(
                ApiError(404, "metrics need prometheus-client: pip install llmreg-gateway",
                         code="not_found")
            )  # fmt: skip
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    async def reload(self, request: Request, model: str | None = None) -> Response:
        """``POST /admin/reload``: load the URI(s) again now (picks up a moved alias).

        Needs the admin key. ``?model=`` reloads one model when several are served.
        """
        try:
            self.keys.require_admin(request.headers.get("authorization"))
            targets = list(self.models) if not model else [self.pick(model, None)]
        except Exception as exc:
            return self.failure("POST /admin/reload", exc)
        answers = []
        for served in targets:
            try:
                outcome = await run_in_threadpool(served.reload)
            except LlmregError as exc:
                self.note_failure(served, exc, "reload")
                err = ApiError(
                    503,
                    f"reload of {served.model_uri} failed, the previous model keeps serving: "
                    f"{masked(served, str(exc))}",
                    type=type(exc).__name__,
                    code="reload_failed",
                )
                if len(targets) == 1:
                    return _error(err, served)
                answers.append({"model_uri": served.model_uri, **err.body()})
                continue
            self.note_reload(served, outcome)
            answers.append({"model_uri": served.model_uri, **outcome})
        if len(targets) == 1:
            return _json(answers[0])
        return _json({"models": answers})

    def note_reload(self, served: ServedModel, outcome: dict[str, Any]) -> None:
        """Count a reload that changed the answering version."""
        metrics = self.observer.metrics
        if outcome.get("changed") and metrics is not None:
            metrics.swaps.labels(served.name or served.model_uri).inc()

    def note_failure(self, served: ServedModel, exc: BaseException, what: str) -> None:
        """Log (masked) and count a failed load or reload."""
        logger.warning(
            "%s of %s failed%s: %s",
            what,
            served.model_uri,
            ", keeping the loaded model" if served.adapter is not None else "",
            masked(served, f"{type(exc).__name__}: {exc}"),
        )
        metrics = self.observer.metrics
        if metrics is not None:
            metrics.load_failures.labels(served.name or served.model_uri).inc()


async def _load_in_background(routes: Routes, served: ServedModel) -> None:
    try:
        await run_in_threadpool(served.load)
    except Exception as exc:
        routes.note_failure(served, exc, "loading")
    else:  # what the load brought in (MLflow, in a worker) lives as long as the server
        gc.freeze()


async def _poll(routes: Routes, served: ServedModel, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            outcome = await run_in_threadpool(served.reload)
        except Exception as exc:
            routes.note_failure(served, exc, "reloading")
        else:
            routes.note_reload(served, outcome)


def build_app(
    served: ServedModels | ServedModel,
    *,
    reload_interval: float,
    max_body_bytes: int,
    body_timeout: float = BODY_TIMEOUT_S,
    keys: KeyRing | None = None,
    access_log: bool = True,
    metrics: bool = True,
    protect_ready: bool = False,
    protect_metrics: bool = False,
    discover_interval: float = 30.0,
) -> FastAPI:
    """Build the app; see :func:`llmreg_gateway.create_app`.

    ``app.state.llmreg_routes`` holds the :class:`Routes` (its ``body_timeout`` can be
    changed before serving); ``app.state.llmreg`` the first served model and
    ``app.state.llmreg_models`` all of them.
    """
    observer = Observer(new_metrics() if metrics else None, access_log)
    routes = Routes(
        served,
        max_body_bytes,
        body_timeout,
        keys=keys,
        observer=observer,
        protect_ready=protect_ready,
        protect_metrics=protect_metrics,
    )
    models = routes.models

    def start(model: ServedModel, tasks: list[asyncio.Task[None]]) -> None:
        if model.adapter is None:
            tasks.append(asyncio.create_task(_load_in_background(routes, model)))
        if model.is_alias and reload_interval > 0:
            tasks.append(asyncio.create_task(_poll(routes, model, reload_interval)))

    async def discover(tasks: list[asyncio.Task[None]]) -> None:
        while True:
            try:
                for model in await run_in_threadpool(models.discover_new):
                    start(model, tasks)
            except Exception as exc:
                logger.warning(
                    "listing the registry for new models failed: %s", masked(None, str(exc))
                )
            await asyncio.sleep(discover_interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _freeze_startup_objects()
        tasks: list[asyncio.Task[None]] = []
        for model in models:
            start(model, tasks)
        if models.discover is not None and discover_interval > 0:
            tasks.append(asyncio.create_task(discover(tasks)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            models.close()

    summary = ", ".join(m.model_uri for m in models) or "the models an alias names"
    app = _App(title="llmreg", version=__version__, summary=f"Serving {summary}"[:300],
               lifespan=lifespan)  # fmt: skip
    app.llmreg_fast = {
        ("POST", "/v1/chat/completions"): routes.chat,
        ("POST", "/predict"): _predict_direct(routes),
    }
    app.state.llmreg = routes.served
    app.state.llmreg_models = models
    app.state.llmreg_routes = routes
    errors = oa.COMMON_ERRORS
    event_stream = {"text/event-stream": {"schema": {"type": "string"}}}
    app.add_api_route(
        "/predict", routes.predict, methods=["POST"],
        responses={200: {"model": oa.PredictOutputs}, **errors},
    )  # fmt: skip
    app.add_api_route(
        "/v1/chat/completions", routes.chat, methods=["POST"],
        responses={200: {"model": oa.ChatCompletion, "content": event_stream,
                         "description": "the completion (server-sent events when stream)"},
                   **errors},
    )  # fmt: skip
    app.add_api_route(
        "/v1/models", routes.models_route, methods=["GET"],
        responses={200: {"model": oa.ModelList}, 401: errors[401]},
    )  # fmt: skip
    app.add_api_route(
        "/v1/models/{model_id:path}", routes.model_route, methods=["GET"],
        responses={200: {"model": oa.ModelObject}, 400: errors[400], 401: errors[401],
                   403: errors[403], 404: errors[404]},
    )  # fmt: skip
    app.add_api_route(
        "/health", routes.health, methods=["GET"], responses={200: {"model": oa.Health}}
    )
    app.add_api_route(
        "/ready", routes.ready, methods=["GET"],
        responses={200: {"model": oa.ReadyBody}, 401: errors[401],
                   503: {"model": oa.ReadyBody, "description": "not loaded (yet)"}},
    )  # fmt: skip
    app.add_api_route(
        "/metrics", routes.metrics, methods=["GET"],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                         "description": "Prometheus metrics"},
                   401: errors[401], 404: _error_doc("prometheus-client is not installed")},
    )  # fmt: skip
    app.add_api_route(
        "/admin/reload", routes.reload, methods=["POST"],
        responses={200: {"model": oa.ReloadBody}, 401: errors[401], 403: errors[403],
                   404: errors[404], 500: errors[500], 503: errors[503]},
    )  # fmt: skip

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                             routes=app.routes)  # fmt: skip
        text_only = not any(_passes_through(m.adapter) for m in models)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(oa.components(text_only))
        ids = models.ids()
        if ids:  # the document names the models served when it is made
            chat_schema = schemas[oa.chat_body(text_only).__name__]
            chat_schema["properties"]["model"]["enum"] = ids
        for path, (_, body) in oa.request_bodies(text_only).items():
            operation = schema["paths"][path]["post"]
            operation["requestBody"] = {
                "required": True, "content": {"application/json": {"schema": body}},
            }  # fmt: skip
            operation["responses"].pop("422", None)
        for item in schema["paths"].values():
            for operation in item.values():
                operation["responses"].pop("422", None)
        oa.positive_minimums(schema)
        if all(m.adapter is not None for m in models):  # what the models take is known
            app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", None) or "error"
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        response = _error(
            ApiError(status, f"{request.method} {request.url.path}: {detail}", code=code)
        )
        allow = (getattr(exc, "headers", None) or {}).get("Allow")
        if status == 405:
            response.headers["Allow"] = allow or _allowed_methods(app, request.url.path)
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        return _error(bad_request(f"the request is invalid: {exc}"))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    return app


def _predict_direct(routes: Routes) -> Any:
    """``POST /predict`` for the direct path: ``?model=`` read as FastAPI reads it (the
    last value given; an empty one is none)."""

    async def predict(request: Request) -> Response:
        values = request.query_params.getlist("model")
        return await routes.predict(request, values[-1] if values else None)

    return predict


def _freeze_startup_objects() -> None:
    """Move what the process holds at start-up (modules, loaded models: MLflow's alone are
    hundreds of thousands of objects) out of the garbage collector's reach.

    They live as long as the server, yet every full collection walked them all: a
    pause of milliseconds every few thousand requests, and CPU spent per request.
    Objects made later (a model loaded by a reload) are collected as usual.
    """
    gc.collect()
    gc.freeze()


class _App(FastAPI):
    """FastAPI, with a direct path for the hot routes in :attr:`llmreg_fast`.

    A request to one of them (method and path) goes straight to its handler, the
    same one the router would call (keys, logs, metrics and error shapes are its
    own), without Starlette's middleware stack, the router's matching and FastAPI's
    per-request dependency work: a third of the server's CPU per request. Routes,
    the OpenAPI document and every other path are FastAPI's. An app that has
    middleware of its own added, or a ``root_path``, takes the router's path.
    """

    #: (method, path) -> handler taking the request and returning the response.
    llmreg_fast: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and not self.user_middleware
            and not scope.get("root_path")
            and (handler := self.llmreg_fast.get((scope["method"], scope["path"])))
        ):
            scope["app"] = self
            request = Request(scope, receive, send)
            try:
                response = await handler(request)
            except Exception as exc:  # the handlers answer their errors: this is a bug
                trace = "".join(traceback.format_exception(exc)).rstrip()
                logger.error("%s %s failed, answered 500:\n%s", scope["method"], scope["path"],
                             masked(None, trace))  # fmt: skip
                response = _error(from_exception(exc))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _error_doc(description: str) -> dict[str, Any]:
    from llmreg_gateway.openapi import ErrorBody

    return {"model": ErrorBody, "description": description}


def _passes_through(adapter: Adapter | None) -> bool:
    """Whether a loaded adapter's client takes fields beyond text chat (tools...)."""
    client = getattr(adapter, "client", None) if isinstance(adapter, ClientAdapter) else None
    return bool(getattr(client, "CHAT_FIELDS", None))


def _allowed_methods(app: FastAPI, path: str) -> str:
    from starlette.routing import Match

    methods: set[str] = set()
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _header_timer(base: type, header_timeout: float) -> type:
    """``base`` (one of uvicorn's HTTP protocols) closing connections whose request
    headers do not arrive within ``header_timeout`` seconds (408, logged at INFO).

    The timer is armed when a connection is made and at the first byte of the next
    request on a kept-alive connection; :meth:`_disarm` is called by the subclass
    once a request's headers are in.
    """

    class Timed(base):  # type: ignore[misc,valid-type,unused-ignore]
        _header_timer: asyncio.TimerHandle | None = None
        _deadline: float | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first byte of the next request on a kept-alive connection
            super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            self._deadline = None
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

        def _arm(self) -> None:
            # One timer per connection: arming sets a deadline, and the timer, when it
            # fires early (a request in between), sleeps again until the deadline. No
            # timer is made and cancelled per request.
            self._deadline = self.loop.time() + header_timeout
            if self._header_timer is None:
                self._header_timer = self.loop.call_at(self._deadline, self._check)

        def _disarm(self) -> None:
            self._deadline = None

        def _check(self) -> None:
            self._header_timer = None
            if self._deadline is None:
                return
            if self.loop.time() < self._deadline:
                self._header_timer = self.loop.call_at(self._deadline, self._check)
                return
            self._deadline = None
            self._too_slow()

        def _too_slow(self) -> None:
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

    return Timed


def timed_h11_protocol(header_timeout: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """Return uvicorn's h11 protocol class with a header timeout, for ``uvicorn.Config(http=)``.

    A client must send a request's headers within ``header_timeout`` seconds of
    connecting, or of the first byte of its next request on a kept-alive
    connection; otherwise it gets a 408 and the connection is closed (logged at
    INFO). uvicorn itself only times out idle kept-alive connections, so a client
    that sends its headers slowly would hold a connection forever.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    timed = _header_timer(H11Protocol, header_timeout)

    class TimedH11Protocol(timed):  # type: ignore[misc,valid-type]
        """uvicorn's h11 protocol, closing connections whose headers do not arrive in time."""

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a request's headers arrived
                self._disarm()

    return TimedH11Protocol


def timed_httptools_protocol(header_timeout: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol (llhttp, in C) with the header timeout of
    :func:`timed_h11_protocol`. Needs ``httptools``."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    timed = _header_timer(HttpToolsProtocol, header_timeout)

    class TimedHttpToolsProtocol(timed):  # type: ignore[misc,valid-type]
        """uvicorn's httptools protocol, closing connections whose headers are late."""

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

    return TimedHttpToolsProtocol


def timed_http_protocol(header_timeout: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """The protocol ``llmreg serve`` runs: httptools' (a fraction of h11's CPU per
    request) when installed, else h11's; both with the header timeout."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return timed_h11_protocol(header_timeout)
    return timed_httptools_protocol(header_timeout)


__all__ = [
    "BODY_TIMEOUT_S",
    "HEADER_TIMEOUT_S",
    "Routes",
    "build_app",
    "fingerprint",
    "masked",
    "read_json",
    "timed_h11_protocol",
    "timed_http_protocol",
    "timed_httptools_protocol",
]
