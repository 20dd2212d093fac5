"""Batches: order kept, concurrency bounded, sync and async callers, many threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from llmreg import Completion, Request
from llmreg.errors import ConfigError, PredictionError


def test_order_is_kept_when_later_rows_finish_first(make_client, unique):
    # row i waits (10 - i) * 20 ms, so the last row is answered first
    rows = [Request(input=f"[slow {(10 - i) * 20}] row {i}") for i in range(10)]
    results = make_client(unique("order")).batch(rows, concurrency=10)
    assert [r.text for r in results] == [f"echo: [slow {(10 - i) * 20}] row {i}" for i in range(10)]


@pytest.mark.parametrize(("per_definition", "per_call", "expected"), [(3, None, 3), (8, 2, 2)])
def test_concurrency_is_bounded(make_client, server, unique, per_definition, per_call, expected):
    model = unique("slow-150-bound")
    client = make_client(model, concurrency=per_definition)
    results = client.batch([Request(input=f"r{i}") for i in range(12)], concurrency=per_call)
    assert all(isinstance(r, Completion) for r in results)
    assert server.max_in_flight(model) == expected


def test_default_concurrency_is_eight(make_client, server, unique):
    model = unique("slow-150-default")
    make_client(model).batch([Request(input=f"r{i}") for i in range(16)])
    assert server.max_in_flight(model) == 8


def test_bad_concurrency_is_a_config_error(make_client, unique):
    with pytest.raises(ConfigError, match="concurrency"):
        make_client(unique("m")).batch([Request(input="x")], concurrency=0)


def test_sync_batch_from_inside_a_running_event_loop(make_client, unique):
    client = make_client(unique("inloop"))

    async def caller() -> list:
        asyncio.get_running_loop()  # a loop runs in this thread while batch() blocks
        one = client.complete(Request(input="one"))
        return [one, *client.batch([Request(input="two"), Request(input="three")])]

    results = asyncio.run(caller())
    assert [r.text for r in results] == ["echo: one", "echo: two", "echo: three"]


def test_abatch_from_async_code(make_client, server, unique):
    model = unique("slow-30-async")
    client = make_client(model)

    async def caller() -> tuple[list, list]:
        return await asyncio.gather(
            client.abatch([Request(input=f"a{i}") for i in range(4)]),
            client.abatch([Request(input=f"b{i}") for i in range(4)], concurrency=2),
        )

    first, second = asyncio.run(caller())
    assert [r.text for r in first] == [f"echo: a{i}" for i in range(4)]
    assert [r.text for r in second] == [f"echo: b{i}" for i in range(4)]
    assert server.count(model) == 8


def test_fifty_threads_share_one_client(make_client, server, unique):
    model = unique("threads")
    client = make_client(model)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            out = client.batch([Request(input=f"t{n} r{i}") for i in range(3)])
            results[n] = [r.text for r in out]
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert results == {n: [f"echo: t{n} r{i}" for i in range(3)] for n in range(50)}
    assert server.count(model) == 150


def test_close_is_idempotent_and_stops_the_loop_thread(make_client, unique):
    client = make_client(unique("close"))
    client.complete(Request(input="x"))
    thread = client._loop._thread
    assert thread.is_alive()
    client.close()
    client.close()
    assert not thread.is_alive()
    with pytest.raises(PredictionError, match="closed"):
        client.batch([Request(input="x")])


def _loop_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("llmreg-openai-")}


def test_each_client_has_one_loop_thread(make_client, unique):
    before = _loop_threads()
    client = make_client(unique("one-thread"))
    client.batch([Request(input=f"r{i}") for i in range(20)])
    client.complete(Request(input="again"))
    assert _loop_threads() - before == {client._loop._thread}


def test_close_while_a_batch_waits_ends_it_with_a_typed_error(make_client, server, unique):
    model = unique("fault-hang")
    client = make_client(model, timeout=20, max_retries=0)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.batch([Request(input="x")])
        except BaseException as exc:  # collected and asserted below
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while server.count(model) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the request hangs in the server
    assert server.count(model) == 1
    client.close()
    caller.join(10)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], PredictionError)
    assert "closed" in str(outcome[0])


def test_an_empty_batch_is_empty(make_client, server, unique):
    model = unique("empty")
    assert make_client(model).batch([]) == []
    assert server.count(model) == 0


def test_close_while_abatch_waits_ends_it_with_a_typed_error(make_client, server, unique):
    model = unique("fault-hang")
    client = make_client(model, timeout=20, max_retries=0)

    async def caller() -> None:
        waiting = asyncio.ensure_future(client.abatch([Request(input="x")]))
        while server.count(model) == 0:
            await asyncio.sleep(0.01)  # until the request hangs in the server
        await asyncio.to_thread(client.close)
        await waiting

    with pytest.raises(PredictionError, match="closed"):
        asyncio.run(asyncio.wait_for(caller(), timeout=20))


# --- abatch runs on the caller's loop, with pools of that loop -------------------------


def test_abatch_does_not_wait_on_the_clients_loop_thread(make_client, unique):
    client = make_client(unique("own-loop"))
    release = threading.Event()
    blocker = client._loop.submit(_block(release))  # blocks the client's loop thread

    async def caller() -> list:
        return await asyncio.wait_for(client.abatch([Request(input="mine")]), timeout=10)

    try:
        results = asyncio.run(caller())
    finally:
        release.set()
        blocker.result(timeout=10)
    assert [r.text for r in results] == ["echo: mine"]


async def _block(release: threading.Event) -> None:
    release.wait(10)  # blocks the whole loop it runs on, on purpose


def test_a_loops_pools_are_reused_and_closed_when_asyncio_run_ends(make_client, server, unique):
    model = unique("loop-pools")
    client = make_client(model)
    seen = []

    async def caller() -> None:
        for text in ("a", "b", "c"):
            await client.abatch([Request(input=text)])
            seen.append(client._loop_pools[asyncio.get_running_loop()].chain[0].sdk())

    asyncio.run(caller())
    assert seen[0] is seen[1] is seen[2]  # one pool per loop, reused by every call
    assert seen[0].is_closed()  # closed at the loop's shutdown, before the client is
    assert server.count(model) == 3


def test_two_threads_with_their_own_loops_share_one_client(make_client, server, unique):
    model = unique("two-loops")
    client = make_client(model)
    out: dict[str, list[str]] = {}

    def work(tag: str) -> None:
        rows = [Request(input=f"{tag}{i}") for i in range(5)]
        out[tag] = [r.text for r in asyncio.run(client.abatch(rows, concurrency=2))]

    threads = [threading.Thread(target=work, args=(tag,)) for tag in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert out == {tag: [f"echo: {tag}{i}" for i in range(5)] for tag in ("x", "y")}
    assert server.count(model) == 10


def test_close_from_another_thread_closes_a_running_loops_pools(make_client, unique):
    client = make_client(unique("close-pools"))

    async def caller():
        await client.abatch([Request(input="x")])
        sdk = client._loop_pools[asyncio.get_running_loop()].chain[0].sdk()
        await asyncio.to_thread(client.close)  # the loop runs while another thread closes
        closed_now = sdk.is_closed()
        with pytest.raises(PredictionError, match="closed"):
            await client.abatch([Request(input="y")])
        return closed_now

    assert asyncio.run(caller()) is True


def test_close_called_on_the_loop_itself_closes_its_pools_soon(make_client, unique):
    client = make_client(unique("close-inloop"))

    async def caller():
        await client.abatch([Request(input="x")])
        sdk = client._loop_pools[asyncio.get_running_loop()].chain[0].sdk()
        client.close()  # sync, on the loop: the closing is scheduled, not awaited
        for _ in range(100):
            if sdk.is_closed():
                return True
            await asyncio.sleep(0.01)
        return False

    assert asyncio.run(caller()) is True


# --- aclose: the async close, for async owners (the serving app) ----------------------


def test_aclose_closes_every_pool_before_it_returns_and_stops_the_thread(make_client, unique):
    client = make_client(unique("aclose"))
    client.complete(Request(input="warm the private loop's pool"))
    private = client._chain[0].sdk()
    thread = client._loop._thread

    async def caller() -> tuple[bool, bool]:
        await client.abatch([Request(input="x")])
        mine = client._loop_pools[asyncio.get_running_loop()].chain[0].sdk()
        await client.aclose()
        return mine.is_closed(), thread.is_alive()

    closed_here, alive = asyncio.run(caller())
    assert closed_here is True  # closed by aclose itself, not later at the loop's shutdown
    assert private.is_closed()  # the private loop's pool too
    assert alive is False
    with pytest.raises(PredictionError, match="closed"):
        client.batch([Request(input="y")])


def test_aclose_never_blocks_the_callers_loop(make_client, unique):
    client = make_client(unique("aclose-nonblocking"))
    client.complete(Request(input="x"))
    release = threading.Event()
    blocker = client._loop.submit(_block(release))  # the private loop cannot close its pool yet
    threading.Timer(0.4, release.set).start()

    async def caller() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        await client.aclose()  # waits about 0.4 s for the private loop, without blocking this one
        ticker.cancel()
        return ticks

    ticks = asyncio.run(asyncio.wait_for(caller(), timeout=20))
    blocker.result(timeout=10)
    assert ticks >= 5  # close() would have blocked the loop: no tick at all
    assert not client._loop._thread.is_alive()


def test_aclose_while_abatch_waits_ends_it_with_a_typed_error(make_client, server, unique):
    model = unique("fault-hang")
    client = make_client(model, timeout=20, max_retries=0)

    async def caller() -> None:
        waiting = asyncio.ensure_future(client.abatch([Request(input="x")]))
        while server.count(model) == 0:
            await asyncio.sleep(0.01)  # until the request hangs in the server
        await client.aclose()
        await waiting

    with pytest.raises(PredictionError, match="closed"):
        asyncio.run(asyncio.wait_for(caller(), timeout=20))


def test_aclose_closes_the_pools_of_another_running_loop(make_client, unique):
    client = make_client(unique("aclose-other-loop"))
    ready, done = threading.Event(), threading.Event()
    other: dict[str, object] = {}

    def other_thread() -> None:
        async def run() -> None:
            await client.abatch([Request(input="from the other loop")])
            other["sdk"] = client._loop_pools[asyncio.get_running_loop()].chain[0].sdk()
            ready.set()
            while not done.is_set():  # the loop keeps running while aclose works
                await asyncio.sleep(0.01)

        asyncio.run(run())

    worker = threading.Thread(target=other_thread)
    worker.start()
    try:
        assert ready.wait(10)
        asyncio.run(client.aclose())
        assert other["sdk"].is_closed()  # closed on its own loop, awaited by aclose
    finally:
        done.set()
        worker.join(10)
