"""Benchmark Spark batch prediction and the cost of self-contained models (on demand).

Run from the repository root with the spark env's Python (pyspark, a JDK 17)::

    .tox/spark/bin/python benchmarks/bench_spark.py [--rows 2000] [--latency 0.05]

Printed, each against a baseline measured in the same run:

1. :func:`llmreg_pyfunc.spark.predict_frame` over N rows in P partitions on
   ``local[P]`` at concurrency C per task, against an endpoint with L s of latency
   (the fake OpenAI server, in its own process): elapsed once the SparkSession has
   started and the workers have loaded the model, against the bound N*L/(C*P)
   (goal: <= 1.5x), and against the same job sending one request at a time per
   task (goal: >= 10x faster);
2. a save with the llmreg wheels (the default) against one with plain pins
   (``bundle_wheels=False``): the extra size and time (goal: <= 1 MB, <= 0.5 s),
   once the wheels are cached (the first save after a change builds them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KEY_ENV = "BENCH_SPARK_KEY"


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    """Run the fake OpenAI server in a subprocess; yield its base_url."""
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


def _run(frame: Any, uri: str, concurrency: int) -> float:
    from llmreg_pyfunc.spark import predict_frame

    start = time.perf_counter()
    rows = predict_frame(frame, uri, concurrency=concurrency).where("metadata.status = 'ok'")
    answered = rows.count()
    elapsed = time.perf_counter() - start
    assert answered == frame.count(), f"{answered} of {frame.count()} rows answered"
    return elapsed


def bench_spark(uri: str, rows: int, partitions: int, concurrency: int, latency: float) -> None:
    """Time predict_frame against the bound and a one-request-at-a-time job."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{partitions}]")
        .appName("bench-spark")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    frame = spark.range(rows).selectExpr("concat('row ', id) AS input").repartition(partitions)
    frame = frame.cache()
    frame.count()
    warm = spark.range(partitions * 4).selectExpr("concat('w ', id) AS input")
    _run(warm.repartition(partitions), uri, concurrency)  # workers start, load the model
    times = [_run(frame, uri, concurrency) for _ in range(3)]
    elapsed = statistics.median(times)
    bound = rows * latency / (concurrency * partitions)
    sequential = _run(frame, uri, 1)
    print(
        f"spark: {rows} rows, {partitions} partitions on local[{partitions}], "
        f"{latency * 1000:.0f} ms latency, concurrency {concurrency} per task"
    )
    print(f"  elapsed {elapsed:.3f} s (runs: {', '.join(f'{t:.3f}' for t in times)})")
    print(f"  bound N*L/(C*P) {bound:.3f} s -> ratio {elapsed / bound:.2f}x (goal <= 1.5x)")
    print(
        f"  one request at a time per task {sequential:.3f} s -> "
        f"{sequential / elapsed:.1f}x slower (goal >= 10x)"
    )
    spark.stop()


def bench_save(base_url: str, repeat: int) -> None:
    """Median save time and size with and without the bundled wheels."""
    from llmreg.definition import ModelDefinition
    from llmreg_pyfunc import CustomSaver
    from llmreg_pyfunc.requirements import model_requirements

    def definition(i: int) -> ModelDefinition:
        return ModelDefinition(
            provider="openai", model=f"save-{i}", base_url=base_url, api_key=f"env:{KEY_ENV}"
        )

    bundled, plain = (
        CustomSaver(experiment="bench-save"),
        CustomSaver(experiment="bench-save", bundle_wheels=False),
    )
    bundled.save(definition(-1))  # builds (or finds) the wheels; warms the store
    plain.save(definition(-2))
    with_wheels, without = [], []
    for i in range(repeat):
        for saver, times, offset in ((bundled, with_wheels, 0), (plain, without, 1000)):
            start = time.perf_counter()
            saver.save(definition(i + offset))
            times.append(time.perf_counter() - start)
    wheels = model_requirements(definition(0), bundled.manager).wheels
    size = sum(w.stat().st_size for w in wheels)
    extra = statistics.median(with_wheels) - statistics.median(without)
    print(f"save: median of {repeat}, the wheels cached")
    print(
        f"  with wheels {statistics.median(with_wheels):.3f} s, plain pins "
        f"{statistics.median(without):.3f} s -> +{extra:.3f} s (goal <= 0.5 s)"
    )
    print(
        f"  {len(wheels)} wheels ({', '.join(w.name.split('-')[0] for w in wheels)}): "
        f"+{size / 1e6:.2f} MB (goal <= 1 MB)"
    )


def main() -> None:
    """Run the benchmark and print its ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=5, help="saves per variant")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ[KEY_ENV] = "sk-bench-not-a-real-key"
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.chdir(root)

    from llmreg import get_plugin_manager
    from llmreg.definition import ModelDefinition

    with fake_server(args.latency) as base_url:
        manager = get_plugin_manager()
        saved = manager.saver().save(
            ModelDefinition(
                provider="openai",
                model="bench-spark",
                base_url=base_url,
                api_key=f"env:{KEY_ENV}",
                max_retries=0,
                concurrency=args.concurrency,
            )
        )
        register = manager.register()
        ref = register.register("bench-chat", saved.uri)
        register.promote("bench-chat", ref.version, "champion")
        bench_spark(
            "models:/bench-chat@champion",
            args.rows,
            args.partitions,
            args.concurrency,
            args.latency,
        )
        bench_save(base_url, args.repeat)


if __name__ == "__main__":
    main()
