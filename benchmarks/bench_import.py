"""Time `import llmreg` and `llmreg plugins` against `import mlflow`, in fresh processes.

Prints the median of 10 runs of each and the ratios. Goals: `import llmreg`
costs at most 5 % of mlflow's import; `llmreg plugins` with every installed
plugin takes at most 0.3 s. Run it in a venv with the core and the plugins
installed: `python benchmarks/bench_import.py`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 10


def median_seconds(code: str) -> float:
    """Median wall time of `python -c code` over RUNS fresh interpreters."""
    return median_command([sys.executable, "-c", code])


def median_command(argv: list[str]) -> float:
    """Median wall time of a command over RUNS runs (its output discarded)."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Measure the baseline, llmreg, and print the ratio."""
    subprocess.run([sys.executable, "-c", "import llmreg, mlflow"], check=True)  # warm .pyc caches
    bare = median_seconds("pass")
    llmreg = median_seconds("import llmreg")
    mlflow = median_seconds("import mlflow")
    cli = str(Path(sys.executable).with_name("llmreg"))
    plugins = median_command([cli, "plugins"])
    count = len(
        json.loads(
            subprocess.run(
                [cli, "plugins", "--json"], check=True, capture_output=True, text=True
            ).stdout
        )["plugins"]
    )
    print(f"bare interpreter : {bare * 1000:8.1f} ms")
    print(f"import llmreg    : {llmreg * 1000:8.1f} ms")
    print(f"import mlflow    : {mlflow * 1000:8.1f} ms")
    print(f"llmreg plugins   : {plugins * 1000:8.1f} ms ({count} plugins)")
    print(f"ratio llmreg/mlflow: {llmreg / mlflow:.1%} (goal <= 5%)")
    print(
        f"ratio llmreg plugins/import mlflow: {plugins / mlflow:.1%}; "
        f"llmreg plugins {plugins:.3f} s (goal <= 0.3 s)"
    )


if __name__ == "__main__":
    main()
