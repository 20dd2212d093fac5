"""Benchmark ``llmreg versions NAME`` against a local ``mlflow server`` (on demand).

    .tox/integration/bin/python benchmarks/bench_cli.py [--repeat N]

Starts ``mlflow server`` (one worker, tests/support/mlflow_server.py) on a sqlite
store in a temporary folder, registers two versions of a tiny model, then times, in
fresh processes and in the same run (median of ``--repeat``):

1. ``llmreg versions NAME`` over MLflow's REST API (llmreg_mlflow.rest, no
   ``import mlflow``): goal <= 0.5 s;
2. the same command with ``LLMREG_MLFLOW_REST=0`` (MLflow's client);
3. MLflow's own client doing the search
   (``MlflowClient(url).search_model_versions("name='NAME'")``): the REST path's
   goal is >= 10x faster than this.

The three run in turn, ``--repeat`` rounds, so that a change of the machine's load
during the run weighs on each alike.

The test-only plugins of ``tests/plugins`` are disabled (``LLMREG_DISABLE_PLUGINS``), as
they are absent from a user's install. Compare figures of the same run: the machine's
load moves them all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.echo_versions import log_echo_versions  # noqa: E402
from support.mlflow_server import running_mlflow_server  # noqa: E402

#: The distributions of tests/plugins, not installed on a user's machine.
TEST_PLUGINS = "llmreg-example,llmreg-broken,llmreg-incompatible"


def _once(command: list[str], env: dict[str, str]) -> float:
    """The wall time of ``command`` in a fresh process; it must succeed."""
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def _interleaved(commands: dict[str, tuple[list[str], dict[str, str]]], repeat: int) -> dict:
    """The median wall time of each command, run in turn ``repeat`` times, so that the
    machine's load (other processes on the shared cores) weighs on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, (command, env) in commands.items():
            times[name].append(_once(command, env))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    """Run the benchmark and print one line per measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    llmreg = str(Path(sys.executable).with_name("llmreg"))
    with tempfile.TemporaryDirectory() as tmp, running_mlflow_server(Path(tmp)) as server:
        from llmreg_mlflow import MlflowRegister

        name = f"bench-{uuid.uuid4().hex[:8]}"
        hashes = [f"sha256:{content * 8}" for content in ("one", "two")]
        log_echo_versions(server.url, MlflowRegister(tracking_uri=server.url), name, hashes)
        # the test-only plugins of tests/plugins (installed in the integration env) are
        # left out, as on a user's machine: the example plugin imports pydantic models
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": server.url,
            "LLMREG_DISABLE_PLUGINS": TEST_PLUGINS,
        }
        env.pop("MLFLOW_REGISTRY_URI", None)
        # as on a user's machine, the sources' .pyc files are written once and then used:
        # with PYTHONDONTWRITEBYTECODE (set in some shells and CI), every run of an edited
        # source tree would compile the changed modules again
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        _once([llmreg, "versions", name], env)  # writes the .pyc files of the sources
        search = (
            "from mlflow import MlflowClient; import sys; "
            f"MlflowClient({server.url!r}).search_model_versions(\"name='{name}'\")"
        )
        medians = _interleaved(
            {
                "rest": ([llmreg, "versions", name], {**env, "LLMREG_MLFLOW_REST": "1"}),
                "client": ([llmreg, "versions", name], {**env, "LLMREG_MLFLOW_REST": "0"}),
                "native": ([sys.executable, "-c", search], env),
            },
            args.repeat,
        )
        rest, client, native = medians["rest"], medians["client"], medians["native"]
    print(f"llmreg versions (REST, no mlflow import): {rest:.3f} s  (goal <= 0.5 s)")
    print(f"llmreg versions (LLMREG_MLFLOW_REST=0, MLflow's client): {client:.3f} s")
    print(f"MlflowClient().search_model_versions in a fresh process: {native:.3f} s")
    print(f"speed-up of the REST path over MLflow's client: {native / rest:.1f}x  (goal >= 10x)")


if __name__ == "__main__":
    main()
