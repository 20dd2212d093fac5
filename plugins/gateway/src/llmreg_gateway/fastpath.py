"""A direct path around the framework's routing for the hot routes.

Why our own code here: ``benchmarks/bench_serve.py`` measured Starlette's
middleware stack, the router's matching and FastAPI's per-request dependency
work at a third of the server's CPU per request on ``/predict`` and
``/v1/chat/completions``. A request to one of those (method and path) goes
straight to its handler, the same one the router would call (keys, logs,
metrics and error shapes are its own). Routes, the OpenAPI document and every
other path are FastAPI's. An app with middleware of its own added, or a
``root_path``, takes the router's path.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from llmreg_gateway.errors import from_exception
from llmreg_gateway.responses import error_response, masked

logger = logging.getLogger(__name__)

#: A direct handler: the request in, the response out (its errors answered itself).
Handler = Callable[[Request], Awaitable[Response]]


class FastApp(FastAPI):
    """FastAPI, with a direct path for the routes in :attr:`llmreg_fast`."""

    #: (method, path) -> handler taking the request and returning the response.
    llmreg_fast: dict[tuple[str, str], Handler] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer a hot route directly; anything else through FastAPI."""
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
                response = error_response(from_exception(exc))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


__all__ = ["FastApp", "Handler"]
