"""Commands come from plugins (``llmreg_register_commands``); a missing one says what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner

from llmreg import hookimpl
from llmreg.cli import cli
from llmreg.manager import set_plugin_manager
from llmreg.testing import isolated_manager


def _llmreg(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMREG_DISABLE_PLUGINS": "llmreg-gateway,llmreg-pyfunc"}
    return subprocess.run(
        [sys.executable, "-m", "llmreg.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_serve_without_the_gateway_names_the_distribution_to_install():
    done = _llmreg("serve", "models:/chat@champion", "--port", "0")
    assert done.returncode == 1
    assert "llmreg-gateway, which is not installed" in done.stderr
    assert "pip install llmreg-gateway" in done.stderr


def test_a_missing_plugin_command_is_json_with_json():
    done = _llmreg("evaluate", "models:/chat/1", "--data", "x.jsonl", "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "UnknownKindError" and "llmreg-pyfunc" in error["message"]


class _HelloPlugin:
    @hookimpl
    def llmreg_register_commands(self, register):
        import click

        @click.command()
        @click.argument("who")
        def hello(who: str) -> None:
            click.echo(f"hello {who}")

        register("hello", hello)


def test_a_plugin_adds_a_command_that_runs_and_is_listed():
    manager = isolated_manager(_HelloPlugin())
    set_plugin_manager(manager)
    try:
        runner = CliRunner()
        assert runner.invoke(cli, ["hello", "you"]).output == "hello you\n"
        assert "hello" in runner.invoke(cli, ["--help"]).output
        (info,) = [p for p in manager.plugins() if p.commands]
        assert info.commands == ["hello"]
    finally:
        cli.commands.pop("hello", None)
        set_plugin_manager(None)


def test_a_command_registered_without_a_target_fails_that_plugin_only():
    class Bad:
        @hookimpl
        def llmreg_register_commands(self, register):
            register("oops")

    manager = isolated_manager(Bad())
    assert manager.commands() == {}
    (problem,) = manager.problems
    assert "register(" in problem.reason
