"""Budgets: checked before, charged after with the actual cost, shared by replicas; a ledger."""

from __future__ import annotations

import asyncio
import calendar

import pytest

from llmreg.errors import ConfigError
from llmreg_gateway.auth import ApiKey, key_hash
from llmreg_gateway.controls import (
    Budget,
    Controls,
    ControlSettings,
    QuotaExceededError,
)
from llmreg_gateway.controls.budgets import period_of
from llmreg_gateway.controls.cost import Price, PriceBook

from .conftest import Backend

V3 = "models:/chat/3"
BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
#: 1000 prompt + 500 completion tokens at $0.2/$0.4 per million: $0.0004 a request.
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
PRICES = PriceBook({"chat": Price(0.2, 0.4)})


def controls(backend: Backend, budget: Budget | None) -> Controls:
    return Controls(backend.new(), ControlSettings(key_budget=budget), PRICES)


def test_a_spent_budget_refuses_with_insufficient_quota(backend: Backend) -> None:
    key = ApiKey(key_hash("spender"))

    async def main() -> None:
        c = controls(backend, Budget(0.001, "daily"))
        for _ in range(3):  # spent before each: 0, 0.0004, 0.0008 (< 0.001)
            admission = await c.admit(key, "chat", V3, BODY)
            assert await c.settle(admission, USAGE) == pytest.approx(0.0004)
        with pytest.raises(QuotaExceededError) as caught:
            await c.admit(key, "chat", V3, BODY)
        err = caught.value
        assert err.status == 429
        assert err.body()["error"]["type"] == "insufficient_quota"
        assert err.body()["error"]["code"] == "insufficient_quota"
        assert "daily budget" in err.message
        assert "$0.0012 of $0.001." in err.message
        headers = dict(err.headers)
        assert headers["x-should-retry"] == "false"
        assert 0 < int(headers["retry-after"]) <= 86400
        assert await c.budgets.spent(key.id, Budget(0.001, "daily")) == pytest.approx(0.0012)
        # another key has its own budget
        await c.admit(ApiKey(key_hash("saver")), "chat", V3, BODY)
        await c.close()

    asyncio.run(main())


def test_spend_on_one_instance_is_spent_on_the_other(backend: Backend) -> None:
    async def main() -> None:
        one = Controls(backend.new(), ControlSettings(), PRICES)
        two = Controls(backend.new(), ControlSettings(), PRICES)
        key, secret = await one.keys.create("team", budget=Budget(0.0005, "monthly"))
        found = await two.identify(f"Bearer {secret}")
        assert found is not None
        admission = await one.admit(key, "chat", V3, BODY)
        await one.settle(admission, USAGE)
        await two.admit(found, "chat", V3, BODY)  # 0.0004 < 0.0005: still allowed
        admission = await one.admit(key, "chat", V3, BODY)
        await one.settle(admission, USAGE)
        with pytest.raises(QuotaExceededError, match="monthly budget"):
            await two.admit(found, "chat", V3, BODY)
        await one.close()
        await two.close()

    asyncio.run(main())


def test_a_cache_hit_and_an_unknown_price_cost_nothing(backend: Backend) -> None:
    key = ApiKey(key_hash("hits"))

    async def main() -> None:
        c = controls(backend, Budget(0.0001, "daily"))
        admission = await c.admit(key, "chat", V3, BODY)
        assert await c.settle(admission, USAGE, cached=True) == 0.0
        admission = await c.admit(key, "other", "models:/other/1", BODY)
        assert await c.settle(admission, USAGE) is None  # no price: no cost, no charge
        assert await c.budgets.spent(key.id, Budget(0.0001, "daily")) == 0.0
        await c.admit(key, "chat", V3, BODY)
        await c.close()

    asyncio.run(main())


def test_the_ledger_has_spend_by_key_model_and_version(backend: Backend) -> None:
    key = ApiKey(key_hash("ledger"))

    async def main() -> list[dict[str, object]]:
        c = controls(backend, None)
        for version in (V3, V3, "models:/chat/4"):
            await c.settle(await c.admit(key, "chat", version, BODY), USAGE)
        await c.settle(await c.admit(key, "chat", V3, BODY), USAGE, cached=True)
        rows = await c.budgets.usage()
        await c.close()
        return rows

    rows = [r for r in asyncio.run(main()) if r["key"] == key.id]
    assert rows == [
        {
            "key": key.id,
            "model": "chat",
            "version": "models:/chat/3",
            "requests": 3,
            "prompt_tokens": 2000,
            "completion_tokens": 1000,
            "cost_usd": 0.0008,
            "cached": 1,
        },
        {
            "key": key.id,
            "model": "chat",
            "version": "models:/chat/4",
            "requests": 1,
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "cost_usd": 0.0004,
            "cached": 0,
        },
    ]


def test_periods_are_utc_days_and_months() -> None:
    dec31 = calendar.timegm((2026, 12, 31, 23, 59, 0))
    assert period_of("daily", dec31) == ("d:2026-12-31", dec31 + 60.0)
    label, end = period_of("monthly", dec31)
    assert label == "m:2026-12"
    assert end == calendar.timegm((2027, 1, 1, 0, 0, 0))


def test_bad_budgets_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="number > 0"):
        Budget.parse({"usd": 0}, "key x")
    with pytest.raises(ConfigError, match="daily or monthly"):
        Budget.parse({"usd": 5, "period": "weekly"}, "key x")
    with pytest.raises(ConfigError, match="a budget is"):
        Budget.parse({"usd": 5, "currency": "EUR"}, "key x")
    assert Budget.parse({"usd": 5}, "key x") == Budget(5.0, "monthly")
