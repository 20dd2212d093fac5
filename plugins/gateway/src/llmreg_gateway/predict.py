"""``POST /predict``: llmreg Inputs JSON in, Outputs JSON out, at most so many rows."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from llmreg.schemas import Inputs, Outputs
from llmreg_gateway.context import GatewayContext
from llmreg_gateway.controlled import admit, headed, settle_shielded, with_cost
from llmreg_gateway.controls.keys import ManagedKey
from llmreg_gateway.errors import ApiError, from_exception, row_failure
from llmreg_gateway.responses import json_response, usage_of, versioned
from llmreg_gateway.upstream import cap_rows, over_cap, too_large

ROUTE = "/predict"


def check_rows(inputs: Inputs, limit: int) -> None:
    """Refuse a request of more than ``limit`` rows: each row is one upstream call.

    Raises:
        ApiError: 413 ``too_many_rows`` naming the limit.
    """
    if len(inputs.rows) > limit:
        raise ApiError(
            413,
            f"the request has {len(inputs.rows)} rows; this server takes at most {limit} "
            "per /predict request: send them in batches of that size",
            param="inputs",
            code="too_many_rows",
        )


class PredictRoute:
    """The ``/predict`` handler, bound to the app's :class:`GatewayContext`."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx

    async def predict(self, request: Request, model: str | None = None) -> Response:
        """``POST /predict``: llmreg Inputs JSON in, Outputs JSON out.

        ``?model=`` names the model when several are served. Rows that failed
        carry ``status: error`` and no prediction; when every row failed the
        answer is a 502 with the typed error of the first. More rows than the
        ``max_rows`` setting get a 413; a row whose answer is larger than
        ``max_upstream_bytes`` is an error row.
        """
        ctx = self.ctx
        started = time.perf_counter()
        key = served = admission = None
        usage: dict[str, Any] | None = None
        try:
            try:
                key = ctx.key(request)
            except ApiError:  # not an env/file key: maybe a managed one (else the 401)
                key = await ctx.managed_key(request)
            served = ctx.pick(model or None, key)
            body = await ctx.body(request)
            inputs = Inputs.parse(body)
            check_rows(inputs, ctx.settings.max_rows)
            if ctx.routing:  # a rollout is active somewhere: maybe an arm answers
                served = ctx.arm_for(served, key, None, request)
            if ctx.controls is not None and (ctx.controlled or isinstance(key, ManagedKey)):
                admission = await admit(ctx.controls, key, served, body)
            adapter = await ctx.adapter(served)
            answered = await adapter.apredict(inputs, None)
            outputs = cap_rows(answered, ctx.settings.max_upstream_bytes)
            if not any(row.ok for row in outputs.rows):
                if over_cap(outputs.rows[0]):  # the limit is ours to name, not hidden
                    raise too_large(ctx.settings.max_upstream_bytes)
                raise row_failure(outputs.rows[0].metadata)
            usage = _usage(outputs)
            if admission is not None:
                with_cost(usage, await settle_shielded(ctx.controls, admission, usage))
        except Exception as exc:
            response = ctx.failure("POST /predict", exc, served)
            code = from_exception(exc).code
            ctx.record(request, ROUTE, response.status_code, started, served, key, code=code)
            return versioned(headed(response, admission), served)
        finally:
            if admission is not None:  # a no-op once settled; releases a failed one
                await settle_shielded(ctx.controls, admission, None)
        ctx.record(request, ROUTE, 200, started, served, key, usage)
        response = json_response(outputs.model_dump(mode="json"))
        return versioned(headed(response, admission), served)

    def direct(self) -> Callable[[Request], Awaitable[Response]]:
        """The handler for the direct path (:mod:`llmreg_gateway.fastpath`): ``?model=``
        read as FastAPI reads it (the last value given; an empty one is none)."""

        async def predict(request: Request) -> Response:
            values = request.query_params.getlist("model")
            return await self.predict(request, values[-1] if values else None)

        return predict


def _usage(outputs: Outputs) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0}
    for row in outputs.rows:
        for kind in usage:
            usage[kind] += int((usage_of(row.metadata) or {}).get(kind) or 0)
    return usage


__all__ = ["PredictRoute", "check_rows"]
