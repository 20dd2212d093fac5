"""``llmreg rollout``: checked options, every command with --json, watch --once."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner
from gateway.rollout.traffic import send

from llmreg.cli.app import cli
from llmreg_gateway.rollout.mlflow_stats import MlflowRunSink
from llmreg_gateway.rollout.state import RolloutStore


def _run(*args: str, code: int = 0) -> dict:
    done = CliRunner().invoke(cli, [*args, "--json"])
    assert done.exit_code == code, done.output
    return json.loads(done.stdout)


def test_bad_options_are_refused_before_any_write(register, name) -> None:
    before = register.read_model_tags(name)
    cases = [
        (["--to", "2", "--steps", "5,50"], "RolloutInputError", "end at 100"),
        (["--to", "2", "--interval", "soon"], "RolloutInputError", "--interval"),
        (["--to", "2", "--sticky-by", "cookie"], "RolloutInputError", "header:NAME"),
        (["--to", "2", "--max-error-rate", "5"], "RolloutInputError", "fraction"),
        (["--to", "7"], "RolloutInputError", "no version 7"),
        (["--to", "1"], "RolloutInputError", "already holds"),
    ]
    for extra, kind, says in cases:
        error = _run("rollout", "start", name, *extra, code=1)["error"]
        assert error["type"] == kind and says in error["message"], error
    assert register.read_model_tags(name) == before
    error = _run("rollout", "status", name, code=1)["error"]
    assert error["type"] == "RolloutNotFoundError" and "llmreg rollout start" in error["message"]


def test_commands_drive_the_rollout(register, name) -> None:
    started = _run(
        "rollout",
        "start",
        name,
        "--to",
        "2",
        "--steps",
        "10,100",
        "--interval",
        "1s",
        "--sticky-by",
        "header:x-session",
        "--max-error-rate",
        "0.02",
        "--min-requests",
        "50",
    )["rollout"]
    assert (started["status"], started["weight"], started["to_version"]) == ("running", 10, 2)
    assert started["guards"]["max_error_rate"] == 0.02
    assert _run("rollout", "status", name)["rollout"]["id"] == started["id"]
    assert _run("rollout", "pause", name)["rollout"]["status"] == "paused"
    error = _run("rollout", "pause", name, code=1)["error"]
    assert error["type"] == "RolloutStateError"
    assert _run("rollout", "resume", name)["rollout"]["status"] == "running"
    # a replica's traffic, flushed to the run; the watcher steps once the interval passed
    sink = MlflowRunSink(replica="replica-1")
    rollout = RolloutStore(register).get(name, "champion")  # the store the CLI used
    send(sink, rollout, 1500)
    sink.flush()
    time.sleep(1.1)
    done = CliRunner().invoke(cli, ["rollout", "watch", name, "--once", "--json"])
    assert done.exit_code == 0, done.output
    decision = json.loads(done.stdout.strip().splitlines()[-1])
    assert decision["action"] == "step", decision
    assert decision["rollout"]["weight"] == 100
    promoted = _run("rollout", "promote", name, "--reason", "looks good")["rollout"]
    assert promoted["status"] == "promoted" and promoted["pending"] == []
    assert [v.aliases for v in register.versions(name)][:2] == [(), ("champion",)]
    history = _run("history", name)["moves"]
    assert history[-1]["action"] == "note" and "by hand" in history[-1]["note"]
    assert "looks good" in history[-1]["note"]
    error = _run("rollout", "abort", name, code=1)["error"]
    assert error["type"] == "RolloutStateError" and "promoted" in error["message"]


def test_abort_keeps_the_alias(register, name) -> None:
    _run("rollout", "start", name, "--to", "3")
    aborted = _run("rollout", "abort", name, "--reason", "wrong build")["rollout"]
    assert aborted["status"] == "aborted" and aborted["weight"] == 0
    assert register.versions(name)[0].aliases == ("champion",)
    notes = [m["note"] for m in _run("history", name)["moves"] if m["action"] == "note"]
    assert "wrong build" in notes[-1]
