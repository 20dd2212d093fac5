"""The `llmreg` CLI's plugin listing, run as a user runs it: a subprocess."""

import json
import os
import shutil
import subprocess
import sys

import pytest


def _llmreg(*args, **env):
    exe = shutil.which("llmreg", path=os.path.dirname(sys.executable)) or "llmreg"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )


def test_plugins_json():
    done = _llmreg(
        "plugins",
        "--json",
        LLMREG_LOAD_PLUGINS="llmreg-example,llmreg-broken",
        LLMREG_DISABLE_PLUGINS="",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    example = next(p for p in report["plugins"] if p["distribution"] == "llmreg-example")
    assert example["kinds"] == {"loader": ["FolderLoader"], "saver": ["FolderSaver"]}
    assert example["hooks"] == [
        "llmreg_register_loaders",
        "llmreg_register_providers",
        "llmreg_register_savers",
    ]
    assert example["providers"] == ["shout"]
    statuses = {p["distribution"]: p["status"] for p in report["problems"]}
    assert statuses["llmreg-broken"] == "failed"


def test_plugins_text_lists_failures():
    done = _llmreg("plugins", LLMREG_LOAD_PLUGINS="llmreg-broken", LLMREG_DISABLE_PLUGINS="")
    assert done.returncode == 0
    assert "failed: llmreg-broken 0.0.1" in done.stdout


def test_strict_failure_is_one_line_exit_1_and_debug_shows_traceback():
    env = {"LLMREG_LOAD_PLUGINS": "llmreg-broken", "LLMREG_STRICT_PLUGINS": "1"}
    done = _llmreg("plugins", **env)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("error: PluginLoadError")
    debug = _llmreg("--debug", "plugins", **env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


@pytest.mark.parametrize("args", [["no-such-command"], ["plugins", "--bogus"]])
def test_usage_errors_exit_2(args):
    assert _llmreg(*args).returncode == 2
