"""Where the CLI's tracking store is, how fast the CLI starts, and secrets kept out of logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from llmreg.cli.app import RedactingFormatter, add_secrets

HEAVY = ("mlflow", "openai", "pandas", "fastapi", "uvicorn", "starlette", "httpx")


def test_the_store_line_comes_from_the_plugins_cli_setup(tmp_path):
    """The core knows no store: `store:` is what a plugin's llmreg_cli_setup reports."""
    from click.testing import CliRunner

    from llmreg import hookimpl
    from llmreg.cli import cli
    from llmreg.hookspecs import CliSetup
    from llmreg.manager import set_plugin_manager
    from llmreg.testing import isolated_manager

    class _Store:
        @hookimpl
        def llmreg_cli_setup(self, debug):
            return CliSetup(store={"tracking_uri": f"file://{tmp_path}", "source": "test"})

    set_plugin_manager(isolated_manager(_Store()))
    try:
        import click

        from llmreg.cli.store import say_store, use_store

        @cli.command("where-test")
        def where_test():
            say_store(use_store())
            click.echo("done")

        result = CliRunner().invoke(cli, ["where-test"])
    finally:
        cli.commands.pop("where-test", None)
        set_plugin_manager(None)
    assert result.exit_code == 0, result.output
    assert f"store: file://{tmp_path}" in result.output


def test_cli_and_serve_imports_are_light():
    probe = (
        "import sys, json\n"
        "import llmreg.cli\n"
        "from llmreg.cli import cli\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    loaded = {m.split(".")[0] for m in json.loads(out)}
    assert not loaded & set(HEAVY)


def test_cli_import_does_not_import_pydantic():
    probe = "import sys\nimport llmreg.cli\nprint('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_log_lines_mask_remembered_secrets():
    add_secrets(["sk-canary-abcdef123456"])
    record = logging.LogRecord(
        "x", logging.DEBUG, __file__, 1, "header %s", ("Bearer sk-canary-abcdef123456",), None
    )
    line = RedactingFormatter("%(message)s").format(record)
    assert line == "header Bearer ***"


def test_quiet_packages_warnings_are_kept_off_stderr_without_debug(monkeypatch):
    import warnings

    from llmreg.cli import app

    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *rest: shown.append(message))
    app._configure_logging(debug=False, quiet=("mlflow",))
    warnings.showwarning("noise", UserWarning, "/venv/site-packages/mlflow/pyfunc/x.py", 1)
    warnings.showwarning("ours", UserWarning, "/venv/site-packages/llmreg/x.py", 1)
    assert shown == ["ours"]


def test_plugin_warnings_are_one_line_and_quiet_warnings_shown_with_debug(monkeypatch, capsys):
    import warnings

    from llmreg.cli import app
    from llmreg.manager import LlmregPluginWarning

    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *rest: shown.append(message))
    app._configure_logging(debug=False)
    warnings.showwarning("plugin x failed", LlmregPluginWarning, "/src/llmreg/manager.py", 9)
    assert capsys.readouterr().err == "warning: plugin x failed\n"
    assert shown == []
    app._configure_logging(debug=True, quiet=("mlflow",))  # wraps the original again
    warnings.showwarning("noise", UserWarning, "/venv/site-packages/mlflow/pyfunc/x.py", 1)
    warnings.showwarning("plugin x failed", LlmregPluginWarning, "/src/llmreg/manager.py", 9)
    assert shown == ["noise", "plugin x failed"]
