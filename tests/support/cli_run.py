"""``llmreg`` run in a fresh interpreter against a tracking server, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def run_cli_json(
    tracking_uri: str,
    script: str,
    *args: str,
    rest: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c script ARGS --json`` (the script calls the CLI) at ``tracking_uri``.

    ``LLMREG_MLFLOW_REST`` is ``1`` (``0`` when not ``rest``), ``MLFLOW_REGISTRY_URI``
    is unset and ``env`` is laid over the test process's environment. Returns the
    finished process (stdout holds the JSON answer); waits up to 120 s.
    """
    full = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "LLMREG_MLFLOW_REST": "1" if rest else "0",
        **(env or {}),
    }
    full.pop("MLFLOW_REGISTRY_URI", None)
    return subprocess.run(
        [sys.executable, "-c", script, *args, "--json"],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


__all__ = ["run_cli_json"]
