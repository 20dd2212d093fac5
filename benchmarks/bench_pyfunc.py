"""Benchmark llmreg-pyfunc against plain MLflow, measured in the same run (on demand).

    .venv/bin/python benchmarks/bench_pyfunc.py [--repeat N]

Prints, on a fresh sqlite store in a temporary folder (the core's echo provider,
so no endpoint is involved):

1. ``CustomSaver.save`` against ``mlflow.pyfunc.log_model`` of the same code file
   and config with *inferred* requirements (goal: save >= 10x faster), and with
   *explicit* requirements (goal: save <= 1.3x the time). Both baselines get the
   same signature and no input example (so MLflow does not run predict).
2. A warm ``CustomLoader.load`` of an alias against ``mlflow.pyfunc.load_model``
   of the same alias (goal: <= 1 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _median(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print its ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measured operation")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-pyfunc-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.chdir(root)

    import mlflow

    from llmreg import get_plugin_manager
    from llmreg.definition import ModelDefinition
    from llmreg.testing import echo_plugin, registered
    from llmreg_pyfunc import CustomLoader, CustomSaver
    from llmreg_pyfunc.chat_schema import default_signature
    from llmreg_pyfunc.requirements import pip_requirements
    from llmreg_pyfunc.saver import MODEL_CODE

    with registered(echo_plugin):
        definition = ModelDefinition(provider="echo", model="bench", api_key="env:BENCH_KEY")
        saver = CustomSaver(experiment="bench")
        first = saver.save(definition)  # warm-up: store migrations, imports
        config = root / "model_definition.json"
        config.write_text(definition.to_json())
        reqs = pip_requirements(definition, get_plugin_manager())
        mlflow.set_experiment("bench-baseline")

        def log_model(requirements: list[str] | None) -> None:
            with mlflow.start_run():
                mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(MODEL_CODE),
                    artifacts={"llmreg_config": str(config)},
                    signature=default_signature(),
                    pip_requirements=requirements,
                )

        log_model(reqs)  # warm-up of the baseline path
        # Interleaved, so that load from other processes hits both sides alike.
        saves, explicit = [], []
        for _ in range(args.repeat):
            saves.append(_median(lambda: saver.save(definition), 1))
            explicit.append(_median(lambda: log_model(reqs), 1))
        t_save, t_explicit = statistics.median(saves), statistics.median(explicit)
        t_inferred = _median(lambda: log_model(None), max(2, args.repeat // 2))

        version = mlflow.register_model(first.uri, "bench")
        mlflow.MlflowClient().set_registered_model_alias("bench", "champion", version.version)
        uri = "models:/bench@champion"
        loader = CustomLoader(alias_ttl_seconds=2.0)
        cold_start = time.perf_counter()
        loader.load(uri)
        t_cold = time.perf_counter() - cold_start
        warm_n = 2000
        start = time.perf_counter()
        for _ in range(warm_n):
            loader.load(uri)
        t_warm = (time.perf_counter() - start) / warm_n
        t_mlflow_load = _median(lambda: mlflow.pyfunc.load_model(uri), args.repeat)

    print(f"store: {os.environ['MLFLOW_TRACKING_URI']}  (median of {args.repeat} runs)")
    print("save")
    print(f"  CustomSaver.save                          {t_save * 1000:9.1f} ms")
    print(f"  log_model, inferred requirements          {t_inferred * 1000:9.1f} ms")
    print(f"  log_model, explicit requirements          {t_explicit * 1000:9.1f} ms")
    print(f"  speed-up vs inferred:  {t_inferred / t_save:6.1f}x   (goal >= 10x)")
    print(f"  ratio vs explicit:     {t_save / t_explicit:6.2f}x   (goal <= 1.3x)")
    print("load of an alias")
    print(f"  CustomLoader.load, cold                   {t_cold * 1000:9.1f} ms")
    print(f"  CustomLoader.load, warm (mean of {warm_n})  {t_warm * 1000:9.4f} ms   (goal <= 1 ms)")
    print(f"  mlflow.pyfunc.load_model                  {t_mlflow_load * 1000:9.1f} ms")
    print(f"  warm load is {t_mlflow_load / t_warm:,.0f}x faster than mlflow.pyfunc.load_model")


if __name__ == "__main__":
    main()
