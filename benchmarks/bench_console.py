"""Benchmark the console's pages on a registry of 50 models with 20 versions each (on demand).

    .tox/console/bin/python benchmarks/bench_console.py [--models 50] [--versions 20]
        [--repeat 20] [--server]

Fills a sqlite MLflow store in a temporary folder (or, with ``--server``, a real
``mlflow server`` with one worker, tests/support/mlflow_server.py) with
``--models`` registered models of ``--versions`` versions each, an alias on every
model and a rollout recorded on one, then logs in to the console and times each
page's GET in this process (the app and the registry calls, no browser):

- ``/console/models``: every model with its aliases (one registry listing);
- ``/console/models/NAME``: one model's versions and alias history;
- ``/console/rollouts``: every rollout, from the same one listing;
- ``/console/keys``: the managed keys and this month's usage (memory state).

Goal: each page's median <= 300 ms. Prints one line per page (median, p95, max)
and exits 1 when a median misses the goal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

GOAL_MS = 300.0


@contextlib.contextmanager
def _store(folder: Path, server: bool) -> Iterator[str]:
    if not server:
        os.chdir(folder)
        yield f"sqlite:///{folder / 'mlflow.db'}"
        return
    from support.mlflow_server import running_mlflow_server

    with running_mlflow_server(folder) as running:
        yield running.url


def _fill(uri: str, models: int, versions: int, folder: Path) -> Any:
    from mlflow import MlflowClient

    from llmreg_gateway.rollout import operations
    from llmreg_gateway.rollout.spec import Guards
    from llmreg_gateway.rollout.state import RolloutStore, SystemClock
    from llmreg_mlflow import MlflowRegister

    client = MlflowClient(uri, uri)
    register = MlflowRegister(tracking_uri=uri)
    # A server takes a version's source only inside a run; no file is read anyway.
    run_id = client.create_run("0").info.run_id
    source = f"runs:/{run_id}/model"
    start = time.perf_counter()
    for m in range(models):
        name = f"model-{m:02d}"
        client.create_registered_model(name, description=f"benchmark model {m}")
        for _ in range(versions):
            client.create_model_version(name, source, run_id=run_id)
        register.promote(name, versions, "champion")
    operations.start(
        RolloutStore(register), SystemClock(), "model-00", to="1", alias="champion",
        steps=(10, 100), interval_s=60.0, sticky_by="key", guards=Guards(),
    )  # fmt: skip
    print(f"filled {models} models x {versions} versions in {time.perf_counter() - start:.1f} s")
    return register


def _login(http: Any) -> None:
    import re

    page = http.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, "no login form"
    done = http.post("/console/login", data={"key": os.environ["BENCH_CONSOLE_KEY"],
                                             "csrf": token[1]})  # fmt: skip
    assert done.status_code == 303, done.text[:300]


def main() -> int:
    """Fill the store, time the pages, print the figures; 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--server", action="store_true", help="a real mlflow server")
    args = parser.parse_args()

    import secrets

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from llmreg_gateway.console import create_console
    from llmreg_gateway.controls import Controls
    from llmreg_gateway.controls.settings import ControlSettings

    os.environ["BENCH_CONSOLE_KEY"] = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as tmp, _store(Path(tmp), args.server) as uri:
        register = _fill(uri, args.models, args.versions, Path(tmp))
        console = create_console(
            admin_key="env:BENCH_CONSOLE_KEY", register=register, tracking_uri=uri,
            controls=Controls.from_settings(ControlSettings()),
        )  # fmt: skip
        app = Starlette(routes=[Mount("/console", console)])
        missed = False
        with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as http:
            _login(http)
            for path in ("/console/models", "/console/models/model-00", "/console/rollouts",
                         "/console/keys"):  # fmt: skip
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    answer = http.get(path)
                    times.append((time.perf_counter() - start) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                times.sort()
                median = statistics.median(times)
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                verdict = "ok" if median <= GOAL_MS else "MISSED"
                missed |= median > GOAL_MS
                print(f"{path:32s} median {median:7.1f} ms  p95 {p95:7.1f} ms  "
                      f"max {times[-1]:7.1f} ms  goal <= {GOAL_MS:.0f} ms: {verdict}")  # fmt: skip
        return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
