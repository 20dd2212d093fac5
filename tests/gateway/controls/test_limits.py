"""Rate limits: rpm, tpm and concurrency per key and per model, OpenAI's 429 and headers."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from llmreg_gateway.auth import ApiKey, key_hash
from llmreg_gateway.controls import Admission, Controls, ControlSettings, Limits, RateLimitError
from llmreg_gateway.controls.limits import duration, estimate_tokens

from .conftest import Backend

KEY = ApiKey(key_hash("k-one"))
OTHER = ApiKey(key_hash("k-two"))
BODY = {"model": "chat", "messages": [{"role": "user", "content": "x" * 40}], "max_tokens": 100}
V3 = "models:/chat/3"


def controls(backend: Backend, **settings: object) -> Controls:
    return Controls(backend.new(), ControlSettings(**settings))  # type: ignore[arg-type]


async def admit(c: Controls, key: ApiKey = KEY, body: dict[str, object] = BODY) -> Admission:
    return await c.admit(key, "chat", V3, body)


def away_from_minute_end(margin: float = 8.0) -> None:
    """Wait out the end of a minute, so a test's requests share one rpm window."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def test_rpm_refuses_in_openai_shape(backend: Backend) -> None:
    away_from_minute_end()

    async def main() -> None:
        c = controls(backend, key_limits=Limits(rpm=3))
        first = await admit(c)
        assert dict(first.headers())["x-ratelimit-limit-requests"] == "3"
        assert dict(first.headers())["x-ratelimit-remaining-requests"] == "2"
        assert re.fullmatch(
            r"\d+(\.\d+)?s|\d+ms", dict(first.headers())["x-ratelimit-reset-requests"]
        )
        await admit(c)
        await admit(c)
        with pytest.raises(RateLimitError) as caught:
            await admit(c)
        err = caught.value
        assert err.status == 429
        assert err.body() == {
            "error": {
                "message": err.message,
                "type": "rate_limit_exceeded",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        assert "requests per minute" in err.message
        assert "Limit 3, Used 3" in err.message
        headers = dict(err.headers)
        assert 1 <= int(headers["retry-after"]) <= 60
        assert headers["x-ratelimit-remaining-requests"] == "0"
        # another key has its own budget of requests
        await admit(c, OTHER)
        await c.close()

    asyncio.run(main())


def test_tpm_counts_the_estimate_then_the_actual_usage(backend: Backend) -> None:
    away_from_minute_end()

    async def main() -> None:
        c = controls(backend, key_limits=Limits(tpm=300))
        estimate = estimate_tokens(BODY)
        assert estimate == 100 + 10 + 4
        one = await admit(c)
        assert dict(one.headers())["x-ratelimit-remaining-tokens"] == str(300 - estimate)
        await admit(c)
        with pytest.raises(RateLimitError, match="tokens per minute"):
            await admit(c)
        # the first answer used 20 tokens, not 114: the difference comes back
        await c.settle(one, {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20})
        third = await admit(c)
        assert dict(third.headers())["x-ratelimit-remaining-tokens"] == str(300 - 20 - 2 * 114)
        await c.close()

    asyncio.run(main())


def test_a_failed_request_gives_its_tokens_back(backend: Backend) -> None:
    away_from_minute_end()

    async def main() -> None:
        c = controls(backend, key_limits=Limits(tpm=120))
        one = await admit(c)
        with pytest.raises(RateLimitError):
            await admit(c)
        await c.settle(one, None)
        await admit(c)
        await c.close()

    asyncio.run(main())


def test_concurrency_is_released_by_settle(backend: Backend) -> None:
    async def main() -> None:
        c = controls(backend, key_limits=Limits(concurrent=2))
        one = await admit(c)
        await admit(c)
        with pytest.raises(RateLimitError, match="requests at once") as caught:
            await admit(c)
        assert dict(caught.value.headers)["retry-after"] == "1"
        await c.settle(one, {"total_tokens": 5})
        await c.settle(one, {"total_tokens": 5})  # settling twice releases once
        await admit(c)
        with pytest.raises(RateLimitError):
            await admit(c)
        await c.close()

    asyncio.run(main())


def test_model_limits_apply_to_every_key(backend: Backend) -> None:
    away_from_minute_end()

    async def main() -> None:
        c = controls(backend, model_limits={"chat": Limits(rpm=2)})
        await admit(c, KEY)
        await admit(c, OTHER)
        with pytest.raises(RateLimitError, match="model limit"):
            await admit(c, ApiKey(key_hash("k-three")))
        # another model is not limited
        await c.admit(KEY, "summarize", "models:/summarize/1", BODY)
        await c.close()

    asyncio.run(main())


def test_no_limits_touch_no_state() -> None:
    async def main() -> None:
        c = Controls(_Exploding())
        admission = await c.admit(KEY, "chat", V3, BODY)
        assert admission.headers() == []

    asyncio.run(main())


class _Exploding:
    """A state that fails the test if it is asked anything by admit."""

    kind = "exploding"

    async def admit(self, *args: object) -> None:
        raise AssertionError("admit without limits called the state")


@pytest.mark.parametrize("clients", [32])
def test_limits_hold_within_2_percent_across_two_instances(backend: Backend, clients: int) -> None:
    """32 clients on two Controls sharing one state: rpm and tpm are held within 2%."""
    away_from_minute_end(20)
    rpm, tpm = 500, 40_000
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 46}
    per_request = estimate_tokens(body)  # 46 + 1 + 4 = 51: tpm allows 784 requests

    async def main() -> tuple[int, int]:
        one = controls(backend, key_limits=Limits(rpm=rpm, tpm=tpm, concurrent=clients))
        two = controls(backend, key_limits=Limits(rpm=rpm, tpm=tpm, concurrent=clients))
        admitted = refused = 0

        async def client(c: Controls) -> None:
            nonlocal admitted, refused
            for _ in range(25):
                try:
                    admission = await c.admit(KEY, "chat", V3, body)
                except RateLimitError:
                    refused += 1
                    continue
                admitted += 1
                await c.settle(admission, {"total_tokens": per_request})

        await asyncio.gather(*(client(one if i % 2 else two) for i in range(clients)))
        await one.close()
        await two.close()
        return admitted, refused

    admitted, refused = asyncio.run(main())
    assert admitted + refused == 25 * clients
    assert abs(admitted - rpm) <= 0.02 * rpm, admitted


def test_tpm_holds_within_2_percent_across_two_instances(backend: Backend) -> None:
    away_from_minute_end(20)
    tpm = 10_000
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 95}
    per_request = estimate_tokens(body)  # 100

    async def main() -> int:
        one = controls(backend, key_limits=Limits(tpm=tpm))
        two = controls(backend, key_limits=Limits(tpm=tpm))
        tokens = 0

        async def client(c: Controls) -> None:
            nonlocal tokens
            for _ in range(10):
                try:
                    admission = await c.admit(KEY, "chat", V3, body)
                except RateLimitError:
                    continue
                tokens += per_request
                await c.settle(admission, {"total_tokens": per_request})

        await asyncio.gather(*(client(one if i % 2 else two) for i in range(32)))
        await one.close()
        await two.close()
        return tokens

    tokens = asyncio.run(main())
    assert tpm * 0.98 <= tokens <= tpm, tokens


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"messages": []}, 1024),
        ({"messages": [{"role": "user", "content": "abcd" * 10}], "max_tokens": 5}, 5 + 10 + 4),
        (
            {
                "messages": [{"role": "user", "content": [{"type": "text", "text": "abcde"}]}],
                "max_completion_tokens": 7,
                "n": 2,
            },
            14 + 2 + 4,
        ),
        ({"messages": "junk", "max_tokens": "many"}, 1024),
    ],
)
def test_estimate_tokens(body: dict[str, object], expected: int) -> None:
    assert estimate_tokens(body) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.012, "12ms"), (1.5, "1.5s"), (59.9999, "1m0s"), (360, "6m0s"), (61.4, "1m1s")],
)
def test_durations_as_openai_writes_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_bad_limits_are_config_errors() -> None:
    from llmreg.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown limit"):
        Limits.parse({"rps": 3}, "model chat")
    with pytest.raises(ConfigError, match="integer >= 1"):
        Limits.parse({"rpm": 0}, "model chat")
    with pytest.raises(ConfigError, match="integer >= 1"):
        Limits.parse({"tpm": True}, "model chat")
    assert Limits.parse({"rpm": 5, "concurrent": None}, "x") == Limits(rpm=5)
