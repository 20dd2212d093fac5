"""What MLflow tracing costs a batch: traced against untraced, in the same run.

Run on demand from the repository root, in an environment with llmreg-litellm,
llmreg-mlflow and llmreg-pyfunc (``.tox/integration``)::

    python benchmarks/bench_tracing.py [--rows 200] [--latency 0.05] [--concurrency 16]

As bench_client.py, the fake OpenAI server (tests/support/openai_server.py) runs
in its own process. The adapter is the one every prediction passes through
(``llmreg_pyfunc.tracing.TracedAdapter``), on a sqlite store in a temporary folder
with an experiment set; ``LLMREG_TRACING`` switches tracing off for the untraced
runs, then on for as many traced runs back to back. Spans are built by llmreg's
recorder thread and exported by MLflow's while the next runs go on (both are
flushed once, after them, and that time printed).
Printed: the median batch time each way and the throughput
cost of tracing (goal: <= 10%), at the given latency and at no latency (the
worst case: the span work against the cheapest request).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bench_client import fake_server  # noqa: E402


def measure(base_url: str, rows: int, concurrency: int, runs: int) -> tuple[float, float]:
    """Median seconds of a batch untraced, then traced (sustained: back to back)."""
    from llmreg import ModelDefinition
    from llmreg.manager import get_plugin_manager
    from llmreg_pyfunc.tracing import TRACING_ENV, TracedAdapter, flush

    definition = ModelDefinition(
        provider="openai", model="bench", base_url=base_url, concurrency=concurrency
    )
    adapter = TracedAdapter.build(definition, {}, manager=get_plugin_manager())
    inputs = [f"row {i}" for i in range(rows)]
    expected = [f"echo: row {i}" for i in range(rows)]
    timings: dict[str, list[float]] = {"0": [], "1": []}
    try:
        adapter.predict(inputs[:concurrency])  # warm-up: connections
        os.environ[TRACING_ENV] = "1"
        adapter.predict(inputs[:concurrency])  # warm-up: the tracer
        flush()
        # untraced runs first, then traced runs back to back: the traced runs pay for
        # the span building and export of the runs before them, as a busy server does
        for switch in ("0", "1"):
            os.environ[TRACING_ENV] = switch
            for _ in range(runs):
                start = time.perf_counter()
                answers = adapter.predict(inputs)
                timings[switch].append(time.perf_counter() - start)
                assert answers.predictions == expected
        start = time.perf_counter()
        flush()
        queued = time.perf_counter() - start
        print(f"  traces still to record and export after the runs: {queued:.3f} s")
    finally:
        adapter.close()
    return statistics.median(timings["0"]), statistics.median(timings["1"])


def report(label: str, plain: float, traced: float, rows: int) -> None:
    """Print one comparison."""
    cost = (traced - plain) / plain * 100
    print(f"{label}: {rows} rows")
    print(f"  untraced {plain:.3f} s ({rows / plain:.0f} rows/s)")
    print(f"  traced   {traced:.3f} s ({rows / traced:.0f} rows/s)")
    print(f"  tracing costs {cost:+.1f}% of the batch time (goal <= 10%)")


def main() -> None:
    """Parse the options, run both measurements, print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmreg-bench-tracing-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        os.environ["MLFLOW_EXPERIMENT_NAME"] = "bench-tracing"
        os.chdir(tmp)
        import mlflow

        mlflow.set_experiment("bench-tracing")
        with fake_server(args.latency) as base_url:
            plain, traced = measure(base_url, args.rows, args.concurrency, args.runs)
            report(
                f"latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}",
                plain,
                traced,
                args.rows,
            )
        with fake_server(0.0) as base_url:
            plain, traced = measure(base_url, args.rows, args.concurrency, args.runs)
            report(f"no latency, concurrency {args.concurrency}", plain, traced, args.rows)
        experiment = mlflow.get_experiment_by_name("bench-tracing")
        assert experiment is not None
        found = mlflow.search_traces(locations=[experiment.experiment_id], return_type="list")
        print(f"traces recorded: {len(found)}")


if __name__ == "__main__":
    main()
