"""Where the CLI's tracking store is, how fast the CLI starts, and secrets kept out of logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from llmreg.cli.app import RedactingFormatter, add_secrets
from llmreg.cli.store import configure_store, default_tracking_uri

HEAVY = ("mlflow", "openai", "pandas", "fastapi", "uvicorn", "starlette", "httpx")


def test_default_store_is_sqlite_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    store = configure_store()
    assert store == {
        "tracking_uri": f"sqlite:///{tmp_path.resolve()}/mlflow.db",
        "registry_uri": None,
        "source": "default",
    }
    import os

    assert os.environ["MLFLOW_TRACKING_URI"] == store["tracking_uri"]
    assert default_tracking_uri(tmp_path) == store["tracking_uri"]


def test_environment_store_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:////srv/reg.db")
    assert configure_store() == {
        "tracking_uri": "http://127.0.0.1:5000",
        "registry_uri": "sqlite:////srv/reg.db",
        "source": "environment",
    }


def test_cli_and_serve_imports_are_light():
    probe = (
        "import sys, json\n"
        "import llmreg.cli, llmreg.serve\n"
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


def test_mlflow_warnings_are_kept_off_stderr_without_debug(monkeypatch):
    import warnings

    from llmreg.cli import app

    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *rest: shown.append(message))
    app._configure_logging(debug=False)
    warnings.showwarning("noise", UserWarning, "/venv/site-packages/mlflow/pyfunc/x.py", 1)
    warnings.showwarning("ours", UserWarning, "/venv/site-packages/llmreg/x.py", 1)
    assert shown == ["ours"]


def test_plugin_warnings_are_one_line_and_mlflow_warnings_shown_with_debug(monkeypatch, capsys):
    import warnings

    from llmreg.cli import app
    from llmreg.manager import LlmregPluginWarning

    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *rest: shown.append(message))
    app._configure_logging(debug=False)
    warnings.showwarning("plugin x failed", LlmregPluginWarning, "/src/llmreg/manager.py", 9)
    assert capsys.readouterr().err == "warning: plugin x failed\n"
    assert shown == []
    app._configure_logging(debug=True)  # wraps the original again, not the wrapper
    warnings.showwarning("noise", UserWarning, "/venv/site-packages/mlflow/pyfunc/x.py", 1)
    warnings.showwarning("plugin x failed", LlmregPluginWarning, "/src/llmreg/manager.py", 9)
    assert shown == ["noise", "plugin x failed"]
