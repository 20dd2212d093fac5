"""Controls for a gateway a whole company shares: managed keys, limits, cost, budgets, cache.

The request path calls one facade, :class:`Controls`::

    key = keyring.identify(auth) or await controls.identify(auth)  # env/file, then managed
    # ...401 if None on a closed gateway; KeyRing.authorize(key, names) for scopes...
    admission = await controls.admit(key, model, version, body)  # may raise RateLimitError...
    try:
        hit = await controls.cached(admission, body, request.headers.get("cache-control"))
        if hit is not None:
            await controls.settle(admission, hit.get("usage"), cached=True)
            return hit  # with admission.headers() and x-llmreg-cache: hit
        answer = ...call the upstream...
        usd = await controls.settle(admission, answer["usage"])  # cost, budget, ledger
        await controls.store(admission, answer)
    finally:
        await controls.settle(admission, None)  # no-op once settled; releases on failure

Policy when the shared state (Redis) cannot be reached: **budgets and limits fail
closed** (:meth:`Controls.admit` raises :class:`ControlsUnavailableError`, HTTP 503 with
``Retry-After: 1``), **the cache fails open** (a miss; nothing stored), a settlement
that cannot be written is logged and lost (the answer is already out), and managed
keys fail closed. :attr:`Controls.health` says which, for ``/ready``. A request whose
key and model have no limits and no budget never touches the state.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from llmreg_gateway.auth import ApiKey
from llmreg_gateway.controls.backends import state_from_url
from llmreg_gateway.controls.budgets import Budget, Budgets, QuotaExceededError
from llmreg_gateway.controls.cache import CACHE_HEADER, ResponseCache, cache_control
from llmreg_gateway.controls.cost import PriceBook, cost
from llmreg_gateway.controls.health import POLICY, ControlsUnavailableError, Health
from llmreg_gateway.controls.keys import KeyStore, ManagedKey, ManagedKeyRing
from llmreg_gateway.controls.limits import (
    Limiter,
    Limits,
    RateLimitError,
    estimate_tokens,
    headers_of,
)
from llmreg_gateway.controls.settings import ControlSettings
from llmreg_gateway.controls.state import Check, StateBackend, StateError

logger = logging.getLogger(__name__)

#: The key id of requests on an open gateway (no key asked).
ANONYMOUS = "anonymous"


class Admission:
    """A request let through: what :meth:`Controls.settle` needs to correct and charge."""

    __slots__ = (
        "budget",
        "cache_key",
        "cache_write",
        "checks",
        "cost",
        "estimate",
        "key_id",
        "lease",
        "model",
        "now",
        "settled",
        "values",
        "version",
    )

    def __init__(
        self, key_id: str, model: str, version: str, budget: Budget | None, lease: str
    ) -> None:
        self.key_id = key_id
        self.model = model
        self.version = version
        self.budget = budget
        self.lease = lease
        self.checks: list[Check] = []
        self.values: tuple[float, ...] = ()
        self.now = 0.0
        self.estimate = 0
        self.cache_key: str | None = None
        self.cache_write = False
        self.settled = False
        self.cost: float | None = None

    def headers(self) -> list[tuple[str, str]]:
        """OpenAI's ``x-ratelimit-*`` headers for the response (none without rpm/tpm)."""
        if not self.checks:
            return []
        return headers_of(self.checks, self.values, self.now).items()


class Controls:
    """Keys, limits, cost, budgets and cache for the request path; see the module doc."""

    def __init__(
        self,
        state: StateBackend,
        settings: ControlSettings | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self.settings = settings or ControlSettings()
        self.state = state
        self.prices = prices or PriceBook()
        self.limiter = Limiter(self.settings.model_limits, self.settings.lease_ttl)
        self.budgets = Budgets(state)
        self.keys = KeyStore(state)
        self.ring = ManagedKeyRing(state, self.settings.key_refresh)
        ttl = self.settings.cache_ttl
        self.cache = ResponseCache(state, ttl, shared=self.settings.cache_shared) if ttl else None
        self.health = Health(state.kind)
        self._node = secrets.token_hex(4)
        self._leases = itertools.count()

    @classmethod
    def from_settings(cls, settings: ControlSettings) -> Controls:
        """Build the controls; reads the prices file; connects to nothing yet.

        Raises:
            ConfigError: a bad state URL, prices file or setting (before any write).
        """
        return cls(
            state_from_url(settings.state, options={"timeout": settings.state_timeout}),
            settings,
            PriceBook.from_file(settings.prices_file),
        )

    def _failed(self, exc: StateError, what: str) -> None:
        if self.health.ok:
            logger.error("controls: %s; %s (%s)", exc, POLICY, what)
            self.health.since = time.time()
        self.health.ok, self.health.error = False, str(exc)

    def _answered(self) -> None:
        if not self.health.ok:
            logger.warning("controls: the %s state answers again", self.state.kind)
            self.health.ok, self.health.error, self.health.since = True, None, None

    async def identify(self, authorization: str | None) -> ManagedKey | None:
        """The managed key of an ``Authorization`` header, or ``None``.

        Raises:
            ControlsUnavailableError: the key table cannot be read (managed keys fail closed).
        """
        try:
            return await self.ring.identify(authorization)
        except StateError as exc:
            self._failed(exc, "managed keys refused")
            raise ControlsUnavailableError(f"managed keys cannot be checked: {exc}") from None

    async def admit(
        self, key: ApiKey | None, model: str, version: str, body: Mapping[str, Any]
    ) -> Admission:
        """Check and count a request before the upstream is called.

        Args:
            key: the caller's key (``None`` on an open gateway).
            model: the model name as served (per-model limits and prices use it).
            version: the resolved registered version, e.g. ``models:/chat/3``.
            body: the request body (for the token estimate).

        Raises:
            RateLimitError: a limit is reached (429 ``rate_limit_exceeded``).
            QuotaExceededError: the key's budget is spent (429 ``insufficient_quota``).
            ControlsUnavailableError: the state cannot be reached (503; fail closed).
        """
        if isinstance(key, ManagedKey):
            key_id, limits, budget = key.key_id, key.limits, key.budget
        else:
            key_id = key.id if key is not None else ANONYMOUS
            limits, budget = self.settings.key_limits, self.settings.key_budget
        admission = Admission(key_id, model, version, budget, f"{self._node}:{next(self._leases)}")
        checks = admission.checks
        estimate = 0
        if limits.tpm is not None or model in self.limiter.tpm_models:
            estimate = estimate_tokens(body, self.settings.default_max_tokens)
        labels = self.limiter.checks(key_id, limits, model, estimate, checks)
        if budget is not None:
            checks.append(Budgets.check(key_id, budget, time.time()))
            labels.append("budget")
        if not checks:
            return admission
        admission.estimate = estimate
        try:
            verdict = await self.state.admit(checks, admission.lease)
        except StateError as exc:
            self._failed(exc, "request refused")
            raise ControlsUnavailableError(
                f"limits and budgets cannot be checked, so the request is refused: {exc}"
            ) from None
        if not self.health.ok:
            self._answered()
        admission.now, admission.values = verdict.now, verdict.values
        if verdict.failed < 0:
            return admission
        failed, value = checks[verdict.failed], verdict.values[verdict.failed]
        if labels[verdict.failed] == "budget" and budget is not None:
            raise Budgets.refusal(key_id, budget, value, time.time())
        raise Limiter.refusal(labels[verdict.failed], failed, value, verdict.now, model)

    async def settle(
        self, admission: Admission, usage: Mapping[str, Any] | None, *, cached: bool = False
    ) -> float | None:
        """Correct the token count, release the concurrency slot, charge the cost.

        Call it once the answer is complete (or failed: ``usage=None``); later calls
        do nothing. Returns the cost in USD (0 for a cache hit; ``None`` if unknown).
        A state failure here is logged and recorded in :attr:`health`, not raised.
        """
        if admission.settled:
            return admission.cost
        admission.settled = True
        if cached:
            usd: float | None = 0.0
        else:
            usd = cost(usage, self.prices.lookup(admission.version, admission.model))
        admission.cost = usd
        actual = None if cached or not usage else _total(usage)
        now = time.time()
        ops = Limiter.corrections(
            admission.checks, admission.now, admission.estimate, actual, admission.lease
        )
        ops += Budgets.charge(
            admission.key_id, admission.budget, admission.model, admission.version,
            usage, usd, now, cached=cached,
        )  # fmt: skip
        try:
            await self.state.apply(ops)
        except StateError as exc:
            self._failed(exc, "usage of one request lost")
        return usd

    async def cached(
        self, admission: Admission, body: Mapping[str, Any], control: str | None = None
    ) -> dict[str, Any] | None:
        """The cached answer to ``body`` for this admission's version and key, or ``None``.

        ``control`` is the request's ``Cache-Control``. Fails open: a state failure is
        a miss (recorded in :attr:`health`).
        """
        if self.cache is None:
            return None
        read, write = cache_control(control)
        if not (read or write):
            return None
        admission.cache_key = self.cache.key(admission.version, admission.key_id, body)
        admission.cache_write = write
        if not read:
            return None
        try:
            return await self.cache.get(admission.cache_key)
        except StateError as exc:
            self._failed(exc, "cache skipped")
            return None

    async def store(self, admission: Admission, answer: Mapping[str, Any]) -> bool:
        """Store a complete ``chat.completion`` answer, after :meth:`cached` missed.

        Returns whether it was stored (not with ``no-store``, nor when the state fails).
        """
        if self.cache is None or admission.cache_key is None or not admission.cache_write:
            return False
        try:
            await self.cache.put(admission.cache_key, answer)
        except StateError as exc:
            self._failed(exc, "cache skipped")
            return False
        return True

    async def check(self) -> Health:
        """Ping the state and return :attr:`health` (for ``/ready``)."""
        try:
            await self.state.ping()
        except StateError as exc:
            self._failed(exc, "ping")
        else:
            self._answered()
        return self.health

    async def close(self) -> None:
        """Release the state's connections."""
        await self.state.close()


def _total(usage: Mapping[str, Any]) -> int:
    total = usage.get("total_tokens")
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    parts = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    return sum(p for p in parts if isinstance(p, int) and not isinstance(p, bool))


__all__ = [
    "ANONYMOUS",
    "CACHE_HEADER",
    "POLICY",
    "Admission",
    "Budget",
    "ControlSettings",
    "Controls",
    "ControlsUnavailableError",
    "Health",
    "Limits",
    "ManagedKey",
    "QuotaExceededError",
    "RateLimitError",
]
