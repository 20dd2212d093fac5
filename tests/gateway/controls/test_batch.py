"""Group commit: concurrent calls share a round trip; errors and cancellations stay contained."""

from __future__ import annotations

import asyncio

import pytest

from llmreg_gateway.controls.batch import Batcher


def test_calls_in_flight_share_the_next_round_trip() -> None:
    batches: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    async def main() -> list[int]:
        batcher: Batcher[int, int] = Batcher(run, limit=8)
        return list(await asyncio.gather(*(batcher.submit(i) for i in range(20))))

    assert asyncio.run(main()) == [i * 10 for i in range(20)]
    assert batches[0] == [0, 1, 2, 3, 4, 5, 6, 7]  # the first call waits for nobody...
    assert len(batches) == 3  # ...and the rest went in batches of at most 8
    assert sorted(i for b in batches for i in b) == list(range(20))


def test_an_error_reaches_every_caller_of_its_batch_only() -> None:
    async def run(items: list[int]) -> list[int]:
        await asyncio.sleep(0)
        if 3 in items:
            raise ConnectionError("gone")
        return items

    async def main() -> None:
        batcher: Batcher[int, int] = Batcher(run, limit=2)
        results = await asyncio.gather(
            *(batcher.submit(i) for i in range(6)), return_exceptions=True
        )
        assert results[:2] == [0, 1]
        assert all(isinstance(r, ConnectionError) for r in results[2:4])
        assert results[4:] == [4, 5]

    asyncio.run(main())


def test_a_cancelled_caller_strands_nobody() -> None:
    async def main() -> None:
        gate = asyncio.Event()

        async def run(items: list[int]) -> list[int]:
            await gate.wait()
            return items

        batcher: Batcher[int, int] = Batcher(run)
        first = asyncio.create_task(batcher.submit(1))
        second = asyncio.create_task(batcher.submit(2))
        await asyncio.sleep(0.01)
        first.cancel()  # the caller whose call started the drain goes away
        gate.set()
        assert await asyncio.wait_for(second, 2) == 2
        with pytest.raises(asyncio.CancelledError):
            await first

    asyncio.run(main())
