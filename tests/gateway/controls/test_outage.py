"""Redis going away mid-run: budgets and limits fail closed, the cache fails open, /ready knows."""

from __future__ import annotations

import asyncio

import pytest

from llmreg_gateway.auth import ApiKey, key_hash
from llmreg_gateway.controls import (
    POLICY,
    Budget,
    Controls,
    ControlSettings,
    ControlsUnavailableError,
    Limits,
)
from llmreg_gateway.controls.cost import Price, PriceBook

from .conftest import RedisServer

KEY = ApiKey(key_hash("outage"))
V3 = "models:/chat/3"
BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
ANSWER = {"id": "x", "object": "chat.completion", "choices": [], "usage": USAGE}


def test_redis_going_away_mid_run(own_redis: RedisServer) -> None:
    guarded = ControlSettings(
        state=own_redis.url,
        key_limits=Limits(rpm=100),
        key_budget=Budget(1.0, "daily"),
        cache_ttl=60,
        key_refresh=0,
    )
    plain = ControlSettings(state=own_redis.url, cache_ttl=60)

    async def main() -> None:
        c = Controls.from_settings(guarded)
        c.prices = PriceBook({"chat": Price(1, 1)})
        open_gateway = Controls.from_settings(plain)
        _, secret = await c.keys.create("managed")
        admission = await c.admit(KEY, "chat", V3, BODY)
        assert await c.cached(admission, BODY) is None
        assert await c.store(admission, ANSWER)
        assert await c.settle(admission, USAGE) == pytest.approx(15e-6)
        assert (await c.check()).ok
        before = await open_gateway.admit(KEY, "chat", V3, BODY)

        own_redis.stop()

        # budgets and limits fail closed: a typed 503 with Retry-After
        with pytest.raises(ControlsUnavailableError) as caught:
            await c.admit(KEY, "chat", V3, BODY)
        err = caught.value
        assert err.status == 503
        assert err.body()["error"]["code"] == "state_unavailable"
        assert dict(err.headers)["retry-after"] == "1"
        assert "did not answer" in err.message
        health = c.health.as_dict()
        assert health["ok"] is False
        assert health["backend"] == "redis"
        assert health["since"] is not None
        assert health["policy"] == POLICY
        assert "fail closed" in POLICY
        assert "fails open" in POLICY
        # managed keys fail closed too
        with pytest.raises(ControlsUnavailableError, match="managed keys"):
            await c.identify(f"Bearer {secret}")
        # the cache fails open: a miss, nothing stored, no exception
        assert await c.cached(admission, BODY) is None
        assert not await c.store(admission, ANSWER)
        # a request without limits or budget still passes; its cache lookup is a miss
        during = await open_gateway.admit(KEY, "chat", V3, BODY)
        assert await open_gateway.cached(during, BODY) is None
        assert not open_gateway.health.ok
        # a settlement that cannot be written is lost, not raised
        await open_gateway.settle(before, USAGE)
        assert not (await c.check()).ok

        own_redis.start()  # same port: the clients reconnect

        health = await c.check()
        assert health.ok
        assert health.error is None
        admission = await c.admit(KEY, "chat", V3, BODY)
        assert dict(admission.headers())["x-ratelimit-limit-requests"] == "100"
        await c.close()
        await open_gateway.close()

    asyncio.run(main())


def test_admission_recovers_health_by_itself(own_redis: RedisServer) -> None:
    async def main() -> None:
        c = Controls.from_settings(
            ControlSettings(state=own_redis.url, key_limits=Limits(concurrent=5))
        )
        await c.admit(KEY, "chat", V3, BODY)
        own_redis.stop()
        with pytest.raises(ControlsUnavailableError):
            await c.admit(KEY, "chat", V3, BODY)
        assert not c.health.ok
        own_redis.start()
        await c.admit(KEY, "chat", V3, BODY)  # the next admission that works says so
        assert c.health.ok
        await c.close()

    asyncio.run(main())
