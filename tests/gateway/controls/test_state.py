"""The state backends: atomic admissions, gauges, TTLs, the key table, URLs and outages."""

from __future__ import annotations

import asyncio
import time

import pytest

from llmreg.errors import ConfigError
from llmreg_gateway.controls.backends import state_from_url
from llmreg_gateway.controls.memory_state import MemoryState
from llmreg_gateway.controls.redis_state import RedisState
from llmreg_gateway.controls.state import (
    ADD,
    CEILING,
    GAUGE,
    HADD,
    RELEASE,
    WINDOW,
    Check,
    Op,
    StateUnavailableError,
    window_key,
)

from .conftest import Backend, free_port


def test_admit_applies_all_or_nothing(backend: Backend) -> None:
    async def main() -> None:
        state = backend.new()
        first = Check(WINDOW, "a", 3, 10, 60)
        tight = Check(WINDOW, "b", 1, 1, 60)
        assert (await state.admit([first, tight], "l1")).failed == -1
        verdict = await state.admit([first, tight], "l2")
        assert verdict.failed == 1
        assert verdict.values == (3.0, 1.0)
        # the refused admission left the first counter alone
        now = verdict.now
        assert await state.read([window_key("a", 60, now)]) == [3.0]
        await state.close()

    asyncio.run(main())


def test_gauge_leases_release_and_expire(backend: Backend) -> None:
    async def main() -> None:
        state = backend.new()
        gauge = Check(GAUGE, "g", 1, 2, 0.3)
        assert (await state.admit([gauge], "a")).failed == -1
        assert (await state.admit([gauge], "b")).failed == -1
        assert (await state.admit([gauge], "c")).failed == 0
        await state.apply([Op(RELEASE, "g", field="a")])
        assert (await state.admit([gauge], "c")).failed == -1
        await asyncio.sleep(0.4)  # b and c were never released: their leases expire
        assert (await state.admit([gauge], "d")).failed == -1
        assert (await state.admit([gauge], "e")).failed == -1
        assert (await state.admit([gauge], "f")).failed == 0
        await state.close()

    asyncio.run(main())


def test_ceiling_reads_without_writing(backend: Backend) -> None:
    async def main() -> None:
        state = backend.new()
        ceiling = Check(CEILING, "spend", 0, 1.0, 0)
        assert (await state.admit([ceiling], "x")).failed == -1
        await state.apply([Op(ADD, "spend", 0.6, 60)])
        assert (await state.admit([ceiling], "x")).failed == -1
        await state.apply([Op(ADD, "spend", 0.4, 60)])
        verdict = await state.admit([ceiling], "x")
        assert verdict.failed == 0
        assert verdict.values[0] == pytest.approx(1.0)
        await state.close()

    asyncio.run(main())


def test_counters_hashes_and_blobs_expire(backend: Backend) -> None:
    async def main() -> None:
        state = backend.new()
        await state.apply(
            [Op(ADD, "n", 2.5, 0.3), Op(HADD, "h", 1, 0, "x"), Op(HADD, "h", 2, 0, "x")]
        )
        assert await state.read(["n", "missing"]) == [2.5, 0.0]
        assert await state.hash_all("h") == {"x": 3.0}
        await state.set("blob", b"\x00answer", 0.3)
        assert await state.get("blob") == b"\x00answer"
        await asyncio.sleep(0.45)
        assert await state.read(["n"]) == [0.0]
        assert await state.get("blob") is None
        await state.close()

    asyncio.run(main())


def test_table_revision_moves_with_every_write(backend: Backend) -> None:
    async def main() -> None:
        one, two = backend.new(), backend.new()
        assert await two.revision("keys") == 0
        assert await one.table_put("keys", "k1", b"a") == 1
        assert await one.table_put("keys", "k1", b"b") == 2
        assert await two.revision("keys") == 2
        assert await two.table_all("keys") == (2, {"k1": b"b"})
        await one.close()
        await two.close()

    asyncio.run(main())


def test_memory_windows_follow_the_clock() -> None:
    now = [1_000_000.0]
    state = MemoryState(clock=lambda: now[0])
    rpm = Check(WINDOW, "r", 1, 2, 60)

    async def main() -> None:
        assert (await state.admit([rpm], "")).failed == -1
        assert (await state.admit([rpm], "")).failed == -1
        assert (await state.admit([rpm], "")).failed == 0
        now[0] += 60  # the next window
        assert (await state.admit([rpm], "")).failed == -1

    asyncio.run(main())


def test_redis_window_counters_expire(redis_server: object) -> None:
    url = redis_server.url  # type: ignore[attr-defined]

    async def main() -> None:
        import redis.asyncio

        state = RedisState.from_url(url, namespace="ttl-test")
        verdict = await state.admit([Check(WINDOW, "r", 1, 5, 60)], "")
        raw = redis.asyncio.Redis.from_url(url)
        ttl = await raw.pttl("ttl-test:" + window_key("r", 60, verdict.now))
        assert 60_000 < ttl <= 120_000  # two windows: the key never outlives its use by much
        await raw.aclose()
        await state.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "expected memory://"),
        ("memcached://127.0.0.1:11211", "expected memory://"),
        ("memory://somewhere", "memory:// takes no host"),
        ("redis://127.0.0.1:6379/zero", "is not a number"),
        ("redis://127.0.0.1:port/0", "port is not a number"),
        ("redis://127.0.0.1:6379/0?ssl=maybe", "unknown option"),
        ("redis:///0", "no host"),
    ],
)
def test_bad_state_urls_are_config_errors(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        state_from_url(url)


def test_a_password_never_shows_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        state_from_url("redis://user:hunter2secret@127.0.0.1:6379/x")
    assert "hunter2secret" not in str(caught.value)
    assert "***@127.0.0.1" in str(caught.value)


def test_state_from_url_builds_each_backend() -> None:
    assert state_from_url("memory://").kind == "memory"
    assert state_from_url("redis://127.0.0.1:1/0").kind == "redis"


def test_unreachable_redis_is_a_typed_error_quickly() -> None:
    url = f"redis://:pw-not-shown@127.0.0.1:{free_port()}/0"

    async def main() -> None:
        state = state_from_url(url, options={"timeout": 0.5})
        started = time.monotonic()
        with pytest.raises(StateUnavailableError) as caught:
            await state.admit([Check(WINDOW, "r", 1, 5, 60)], "")
        assert time.monotonic() - started < 2
        assert "pw-not-shown" not in str(caught.value)
        with pytest.raises(StateUnavailableError):
            await state.ping()
        await state.close()

    asyncio.run(main())
