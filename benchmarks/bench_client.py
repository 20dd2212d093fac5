"""Benchmark of the ``openai`` provider's client (llmreg-litellm) against the fake server.

Run on demand from the repository root::

    python benchmarks/bench_client.py [--rows 200] [--latency 0.05] [--concurrency 16]

The fake OpenAI server (tests/support/openai_server.py) runs in its own process,
so that its CPU does not share the client's GIL. Printed, each as a ratio
against a baseline measured in the same run:

1. a batch of N rows at L s of latency and concurrency C, against the bound
   N*L/C (goal: <= 1.25x the bound);
2. the same rows through a bare ``AsyncOpenAI`` with a semaphore (what the SDK
   alone achieves on this machine now), and as a sequential loop of raw
   ``openai`` calls (goal: the batch is >= 12x faster);
3. one ``complete()`` against one raw ``openai`` call on a server with no
   latency: the median overhead in ms (goal: <= 1 ms).

With ``--trace`` it measures what MLflow tracing costs the same batch instead
(``bench_tracing.py``, which needs llmreg-mlflow and llmreg-pyfunc: ``.tox/integration``)::

    python benchmarks/bench_client.py --trace [--rows 200] [--latency 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai

from llmreg import ModelDefinition, Request
from llmreg_litellm.client import OpenAICompatibleClient

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """Run the fake server in a subprocess; yield its base_url."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    cmd = [sys.executable, "-m", "support.openai_server", "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--latency", str(latency)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"the fake server did not start: {line!r}")
        yield line.removeprefix("listening on ").strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_batch(base_url: str, rows: int, concurrency: int, latency: float) -> float:
    """Time a batch (median of 5 after a warm-up); print it against the bound N*L/C."""
    definition = ModelDefinition(model="bench", base_url=base_url, concurrency=concurrency)
    client = OpenAICompatibleClient(definition)
    requests = [Request(input=f"row {i}") for i in range(rows)]
    try:
        client.batch(requests[:concurrency])  # warm-up: open the connections
        times, cpu = [], []
        for _ in range(5):
            start, start_cpu = time.perf_counter(), time.process_time()
            results = client.batch(requests)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            assert [r.text for r in results] == [f"echo: row {i}" for i in range(rows)]
    finally:
        client.close()
    elapsed = statistics.median(times)
    bound = rows * latency / concurrency
    print(f"batch: {rows} rows, {latency * 1000:.0f} ms latency, concurrency {concurrency}")
    print(f"  elapsed {elapsed:.3f} s (runs: {', '.join(f'{t:.3f}' for t in times)})")
    print(f"  bound N*L/C {bound:.3f} s -> ratio {elapsed / bound:.2f}x (goal <= 1.25x)")
    print(f"  best run {min(times) / bound:.2f}x the bound")
    print(f"  client CPU {statistics.median(cpu) / rows * 1000:.2f} ms per row (2 cores shared)")
    return elapsed


def bench_raw_async(base_url: str, rows: int, concurrency: int, batch_elapsed: float) -> None:
    """Time the same rows through a bare AsyncOpenAI with a semaphore: the SDK's own floor."""
    import asyncio

    async def run() -> list[float]:
        raw = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed")
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                messages = [{"role": "user", "content": f"row {i}"}]
                await raw.chat.completions.create(model="bench", messages=messages)

        await asyncio.gather(*(one(i) for i in range(concurrency)))  # warm-up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(rows)))
            times.append(time.perf_counter() - start)
        await raw.close()
        return times

    times = asyncio.run(run())
    elapsed = statistics.median(times)
    print(f"bare AsyncOpenAI + semaphore, same rows: {elapsed:.3f} s (median of 5)")
    print(f"  the client's batch takes {batch_elapsed / elapsed:.2f}x that")


def bench_sequential(base_url: str, rows: int, batch_elapsed: float) -> None:
    """Time a sequential loop of raw openai calls; print the batch's speed-up over it."""
    raw = openai.OpenAI(base_url=base_url, api_key="not-needed")
    messages = [{"role": "user", "content": "warm-up"}]
    raw.chat.completions.create(model="bench", messages=messages)
    start = time.perf_counter()
    for i in range(rows):
        messages = [{"role": "user", "content": f"row {i}"}]
        raw.chat.completions.create(model="bench", messages=messages)
    elapsed = time.perf_counter() - start
    raw.close()
    print(f"sequential raw openai loop: {elapsed:.3f} s")
    print(f"  speed-up of the batch {elapsed / batch_elapsed:.1f}x (goal >= 12x)")


def bench_overhead(base_url: str, calls: int) -> None:
    """Median time of one complete() against one raw openai call, interleaved, no latency."""
    client = OpenAICompatibleClient(ModelDefinition(model="bench", base_url=base_url))
    raw = openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=2)
    request = Request(input="hello")
    messages = request.chat_messages(None)
    ours, theirs = [], []
    try:
        for _ in range(20):  # warm-up both
            client.complete(request)
            raw.chat.completions.create(model="bench", messages=messages, temperature=0.0)
        for _ in range(calls):
            start = time.perf_counter()
            raw.chat.completions.create(model="bench", messages=messages, temperature=0.0)
            theirs.append(time.perf_counter() - start)
            start = time.perf_counter()
            client.complete(request)
            ours.append(time.perf_counter() - start)
    finally:
        client.close()
        raw.close()
    mine, base = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    print(f"single row, no latency, median of {calls}:")
    print(f"  raw openai call {base:.3f} ms, complete() {mine:.3f} ms")
    print(f"  overhead {mine - base:+.3f} ms (goal <= 1 ms), ratio {mine / base:.2f}x")


def main() -> None:
    """Run the three measurements and print their ratios."""
    parser = argparse.ArgumentParser(description="benchmark the openai provider's client")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--calls", type=int, default=500, help="single-row calls to time")
    parser.add_argument(
        "--trace", action="store_true", help="measure only what tracing costs (bench_tracing.py)"
    )
    args, _ = parser.parse_known_args()
    if args.trace:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_tracing

        sys.argv = [sys.argv[0], *(a for a in sys.argv[1:] if a != "--trace")]
        bench_tracing.main()
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}; noisy under load")
    with fake_server(args.latency) as base_url:
        elapsed = bench_batch(base_url, args.rows, args.concurrency, args.latency)
        bench_raw_async(base_url, args.rows, args.concurrency, elapsed)
        bench_sequential(base_url, args.rows, elapsed)
    with fake_server(0.0) as base_url:
        bench_overhead(base_url, args.calls)


if __name__ == "__main__":
    main()
