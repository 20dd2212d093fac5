"""Budgets per key in US dollars (daily or monthly, UTC), and the usage ledger.

Before a request, :meth:`Budgets.check` is a read-only ceiling on the key's spend in
the current period: once the spend reaches the budget, requests are refused with
:class:`QuotaExceededError` (429 ``insufficient_quota``) until the period ends. After the
response, :meth:`Budgets.charge` adds the actual cost. The request that crosses the
budget completes (its cost is known only after it); the next one is refused.
A cache hit costs nothing and is charged nothing.

Every settled request is also written to the usage ledger (requests, tokens and
cost per key, model and version, per UTC month), which ``llmreg keys usage`` reads.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from llmreg.errors import ConfigError
from llmreg_gateway.controls.limits import RateLimitError
from llmreg_gateway.controls.state import ADD, CEILING, HADD, Check, Op, StateBackend

#: Budget periods.
PERIODS = ("daily", "monthly")
#: Spend counters outlive their period by this long, so ``keys usage`` can still read them.
KEEP_SPEND = 35 * 86400.0
#: The usage ledger keeps a month this long.
KEEP_USAGE = 400 * 86400.0
#: The separator of a ledger field's parts (key id, model, version, metric).
SEP = "\x1f"
#: The metrics of the usage ledger.
METRICS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd", "cached")


@dataclass(frozen=True, slots=True)
class Budget:
    """A key's spending limit.

    Attributes:
        usd: the most the key may spend in a period, in US dollars.
        period: ``daily`` or ``monthly`` (UTC calendar days and months).
    """

    usd: float
    period: Literal["daily", "monthly"] = "monthly"

    @classmethod
    def parse(cls, value: Any, where: str) -> Budget | None:
        """Read ``{"usd": 10, "period": "daily"}`` strictly (``null``: no budget).

        Raises:
            ConfigError: not an object, an unknown field, ``usd`` not a number > 0,
                or a period other than daily or monthly.
        """
        if value is None:
            return None
        if not isinstance(value, Mapping) or set(value) - {"usd", "period"}:
            raise ConfigError(
                f'{where}: a budget is {{"usd": AMOUNT, "period": "daily" | "monthly"}}'
            )
        usd = value.get("usd")
        if isinstance(usd, bool) or not isinstance(usd, int | float) or not usd > 0:
            raise ConfigError(f"{where}: the budget's usd must be a number > 0, not {usd!r}")
        period = value.get("period", "monthly")
        if period not in PERIODS:
            raise ConfigError(f"{where}: the budget's period must be daily or monthly")
        return cls(float(usd), period)

    def as_dict(self) -> dict[str, Any]:
        """The budget, for JSON."""
        return {"usd": self.usd, "period": self.period}


class QuotaExceededError(RateLimitError):
    """HTTP 429 ``insufficient_quota``: the key's budget for this period is spent.

    It carries ``x-should-retry: false``, so OpenAI's SDKs do not retry it.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(
            message,
            retry_after,
            [("x-should-retry", "false")],
            type="insufficient_quota",
            code="insufficient_quota",
        )


def period_of(period: str, now: float) -> tuple[str, float]:
    """The label (``d:2026-12-07`` or ``m:2026-12``) and end (epoch) of the period of ``now``."""
    day = time.gmtime(now)
    if period == "daily":
        start = calendar.timegm((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0))
        return f"d:{day.tm_year:04d}-{day.tm_mon:02d}-{day.tm_mday:02d}", start + 86400.0
    year, month = (day.tm_year + 1, 1) if day.tm_mon == 12 else (day.tm_year, day.tm_mon + 1)
    end = float(calendar.timegm((year, month, 1, 0, 0, 0)))
    return f"m:{day.tm_year:04d}-{day.tm_mon:02d}", end


def usd(amount: float) -> str:
    """An amount of dollars for a message: up to six decimals, no trailing zeros."""
    return f"{amount:.6f}".rstrip("0").rstrip(".") or "0"


def month_of(now: float) -> str:
    """The ledger month of ``now``: ``2026-12``."""
    day = time.gmtime(now)
    return f"{day.tm_year:04d}-{day.tm_mon:02d}"


class Budgets:
    """Budget checks and charges, and the usage ledger, on a state backend."""

    def __init__(self, state: StateBackend) -> None:
        self.state = state

    @staticmethod
    def check(key_id: str, budget: Budget, now: float) -> Check:
        """The ceiling that refuses ``key_id`` once its spend this period reaches ``budget``."""
        label, _ = period_of(budget.period, now)
        return Check(CEILING, f"spend:{key_id}:{label}", 0, budget.usd, 0)

    @staticmethod
    def refusal(key_id: str, budget: Budget, spent: float, now: float) -> QuotaExceededError:
        """The 429 for a key whose budget is spent."""
        _, end = period_of(budget.period, now)
        return QuotaExceededError(
            f"This API key (id {key_id}) has spent its {budget.period} budget: "
            f"${usd(spent)} of ${usd(budget.usd)}. It resets at "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(end))}; "
            "ask an administrator to raise the budget.",
            end - now,
        )

    @staticmethod
    def charge(
        key_id: str,
        budget: Budget | None,
        model: str,
        version: str,
        usage: Mapping[str, Any] | None,
        usd: float | None,
        now: float,
        *,
        cached: bool = False,
    ) -> list[Op]:
        """The ops that charge ``usd`` to the key's budget and write the usage ledger."""
        ops = []
        if budget is not None and usd and not cached:
            label, end = period_of(budget.period, now)
            ops.append(Op(ADD, f"spend:{key_id}:{label}", usd, end - now + KEEP_SPEND))
        ledger = f"usage:{month_of(now)}"
        base = f"{key_id}{SEP}{model}{SEP}{version}{SEP}"
        ops.append(Op(HADD, ledger, 1, KEEP_USAGE, base + "requests"))
        if cached:
            ops.append(Op(HADD, ledger, 1, KEEP_USAGE, base + "cached"))
            return ops
        if usage:
            for metric in ("prompt_tokens", "completion_tokens"):
                count = usage.get(metric)
                if isinstance(count, int) and count > 0:
                    ops.append(Op(HADD, ledger, count, KEEP_USAGE, base + metric))
        if usd:
            ops.append(Op(HADD, ledger, usd, KEEP_USAGE, base + "cost_usd"))
        return ops

    async def spent(self, key_id: str, budget: Budget, now: float | None = None) -> float:
        """What ``key_id`` has spent in the current period of ``budget``, in USD."""
        label, _ = period_of(budget.period, time.time() if now is None else now)
        return (await self.state.read([f"spend:{key_id}:{label}"]))[0]

    async def usage(self, month: str | None = None) -> list[dict[str, Any]]:
        """The ledger of ``month`` (``2026-12``; default this month), one row per
        key, model and version: ``{"key", "model", "version", "requests", ...}``."""
        fields = await self.state.hash_all(f"usage:{month or month_of(time.time())}")
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for field, value in fields.items():
            key_id, model, version, metric = field.split(SEP)
            row = rows.setdefault(
                (key_id, model, version),
                {"key": key_id, "model": model, "version": version} | dict.fromkeys(METRICS, 0),
            )
            row[metric] = round(value, 9) if metric == "cost_usd" else int(value)
        return [rows[k] for k in sorted(rows)]


__all__ = [
    "KEEP_SPEND",
    "KEEP_USAGE",
    "METRICS",
    "PERIODS",
    "Budget",
    "Budgets",
    "QuotaExceededError",
    "month_of",
    "period_of",
    "usd",
]
