"""Time `import llmreg` against `import mlflow` in fresh interpreters.

Prints the median of 10 runs of each and their ratio. Goal: llmreg costs at
most 5 % of mlflow's import. Run: `python benchmarks/bench_import.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 10


def median_seconds(code: str) -> float:
    """Median wall time of `python -c code` over RUNS fresh interpreters."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Measure the baseline, llmreg, and print the ratio."""
    subprocess.run([sys.executable, "-c", "import llmreg, mlflow"], check=True)  # warm .pyc caches
    bare = median_seconds("pass")
    llmreg = median_seconds("import llmreg")
    mlflow = median_seconds("import mlflow")
    print(f"bare interpreter : {bare * 1000:8.1f} ms")
    print(f"import llmreg    : {llmreg * 1000:8.1f} ms")
    print(f"import mlflow    : {mlflow * 1000:8.1f} ms")
    print(f"ratio llmreg/mlflow: {llmreg / mlflow:.1%} (goal <= 5%)")


if __name__ == "__main__":
    main()
