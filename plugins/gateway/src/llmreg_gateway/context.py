"""What every route shares: the settings, the served models, the keys and the observer.

:class:`GatewayContext` answers the questions each route asks (which model, may
this key call it, is it loaded) and writes what each route records (access log,
metrics, failures), so the route modules hold only their own route's logic.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from llmreg.bases import Adapter
from llmreg.errors import LlmregError
from llmreg_gateway.auth import ApiKey, KeyRing, unauthorized
from llmreg_gateway.body import read_json
from llmreg_gateway.controls import Controls
from llmreg_gateway.controls.cost import cost
from llmreg_gateway.errors import NOT_LOADED, ApiError, from_exception, hidden
from llmreg_gateway.model import ServedModel
from llmreg_gateway.observe import Observer
from llmreg_gateway.registry import ServedModels
from llmreg_gateway.responses import error_response, masked
from llmreg_gateway.rollout.routing import ArmChoice, RolloutRouter
from llmreg_gateway.rollout.state import RolloutStore
from llmreg_gateway.rollout.stats import InProcessSink, StatsSink
from llmreg_gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)


class GatewayContext:
    """The state the routes share, built once per app.

    Args:
        models: the served models.
        settings: the app's settings (limits, timeouts, which routes ask for keys).
        keys: the accepted keys; default an open ring (no key asked).
        observer: the access log and metrics; default an access log without metrics.
    """

    def __init__(
        self,
        models: ServedModels,
        settings: GatewaySettings,
        *,
        keys: KeyRing | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.models = models
        self.settings = settings
        self.keys = keys or KeyRing(open=True)
        self.observer = observer or Observer(None)
        #: the shared gateway's controls (managed keys, limits, cost, cache), if any
        self.controls: Controls | None = None
        #: every request goes through the controls (a limit, budget, prices or cache is
        #: set); otherwise only a managed key's do, and the others never touch them
        self.controlled = False
        #: the rollouts' router (refreshed by the lifespan) and per-arm stats
        self.router = RolloutRouter()
        self.rollout_stats: StatsSink = InProcessSink()
        #: the store the router is refreshed from (``None``: no rollouts here)
        self.rollouts: RolloutStore | None = None
        #: some rollout is active: the only check a request makes when none is
        self.routing = False
        #: a prices file is set: answers and log lines carry ``cost_usd``
        self.priced = False

    @property
    def served(self) -> ServedModel | None:
        """The first served model (the only one, for a one-model app), or ``None``."""
        return self.models.first

    async def body(self, request: Request) -> Any:
        """The request's JSON body, within the settings' size and time limits."""
        return await read_json(request, self.settings.max_body_bytes, self.settings.body_timeout)

    def key(self, request: Request) -> ApiKey | None:
        """The caller's key (``None`` on an open app).

        Raises:
            ApiError: 401 for a missing or unknown key.
        """
        return self.keys.authenticate(request.headers.get("authorization"))

    async def managed_key(self, request: Request) -> ApiKey:
        """The managed key (``sk-llmreg-...``) of a request no env/file key matched.

        Raises:
            ApiError: 401 for a missing or unknown key; 503 when the key table
                cannot be read (managed keys fail closed).
        """
        authorization = request.headers.get("authorization")
        controls = self.controls
        key = await controls.identify(authorization) if controls is not None else None
        if key is None:
            raise unauthorized(authorization)
        return key

    def pick(self, model: str | None, key: ApiKey | None) -> ServedModel:
        """Return the served model a request's ``model`` names, checking the key may call it.

        Raises:
            ApiError: 404 for a model not served here or not to this key (400 for none
                named when several are): see :meth:`ServedModels.pick`.
        """
        return self.models.pick(model, key)

    def arm_for(
        self, served: ServedModel, key: ApiKey | None, body: Any, request: Request
    ) -> ServedModel:
        """The arm a rollout on ``served``'s ``NAME@ALIAS`` picks, else ``served``."""
        if served.name is None or served.alias is None:
            return served
        user = body.get("user") if isinstance(body, dict) else None
        choice = self.router.route_request(
            served.name, served.alias, key_id=key.id if key else None,
            user=user if isinstance(user, str) else None, headers=request.headers,
        )  # fmt: skip
        return served if choice is None else self.models.arm(choice)

    def allowed(self, key: ApiKey | None) -> list[ServedModel]:
        """The served models ``key`` may call (all of them on an open app)."""
        return [m for m in self.models if key is None or key.allows(m.ids)]

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
            detail = masked(served, f"{served.model_uri}: {exc}")
            raise hidden(503, NOT_LOADED, detail, type(exc).__name__, "model_not_loaded") from None
        return loaded

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
        return error_response(from_exception(exc), served)

    def record(
        self,
        request: Request,
        route: str,
        status: int,
        started: float,
        served: ServedModel | None,
        key: ApiKey | None,
        usage: dict[str, Any] | None = None,
        *,
        code: str | None = None,
        stream: bool = False,
    ) -> None:
        """Write one request's access log line and metrics (and a rollout arm's stats)."""
        if usage is not None and self.priced and served is not None and "cost_usd" not in usage:
            usage = self._priced(served, usage)  # a stream's usage: priced here for the log
        if served is not None and served.arm is not None:
            self._arm_stats(served.arm, status, started, usage)
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

    def _priced(self, served: ServedModel, usage: dict[str, Any]) -> dict[str, Any]:
        controls = self.controls
        if controls is None:
            return usage
        price = controls.prices.lookup(served.resolved_uri, served.name or served.model_uri)
        usd = cost(usage, price)
        return usage if usd is None else {**usage, "cost_usd": usd}

    def _arm_stats(
        self, arm: ArmChoice, status: int, started: float, usage: dict[str, Any] | None
    ) -> None:
        usage = usage or {}
        tokens = usage.get("total_tokens") or (
            (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
        )
        self.rollout_stats.record(
            arm.rollout_id, arm.step, arm.arm, ok=status < 500,
            latency_ms=(time.perf_counter() - started) * 1000,
            tokens=float(tokens), cost=float(usage.get("cost_usd") or 0.0),
        )  # fmt: skip

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


__all__ = ["GatewayContext"]
