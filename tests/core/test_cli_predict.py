"""``llmreg predict``, run as a user runs it (a subprocess), with the example plugin and echo.

The subprocess registers the echo provider before it runs the CLI's ``main``,
since no installed distribution provides it through an entry point.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from typing import Any, Literal

import pytest
from click.testing import CliRunner

from llmreg import Adapter, Inputs, Loader, Outputs, Result, hookimpl
from llmreg.cli import cli
from llmreg.manager import set_plugin_manager
from llmreg.testing import isolated_manager

RUNNER = (
    "import sys\n"
    "from llmreg.manager import get_plugin_manager\n"
    "from llmreg.testing import echo_plugin\n"
    "get_plugin_manager().register_plugin(echo_plugin)\n"
    "from llmreg.cli import main\n"
    "main(sys.argv[1:])\n"
)


@pytest.fixture
def model(tmp_path) -> str:
    """A model saved by the example plugin's FolderSaver, answering through echo."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model_definition.json").write_text(
        json.dumps({"provider": "echo", "model": "m", "concurrency": 2})
    )
    return f"folder:{folder}"


def llmreg(tmp_path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LLMREG_LOAD_PLUGINS": "llmreg-example",
        "LLMREG_LOADER": "FolderLoader",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        input=stdin,
        check=False,
    )


def test_predict_text_prints_the_answer(tmp_path, model):
    done = llmreg(tmp_path, "predict", model, "hello there")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == "echo: hello there\n"


def test_predict_text_json_prints_the_result_row(tmp_path, model):
    done = llmreg(tmp_path, "predict", model, "hi", "--json")
    row = json.loads(done.stdout)
    assert row["prediction"] == "echo: hi"
    assert row["metadata"]["status"] == "ok"


def test_predict_file_writes_json_lines_in_input_order(tmp_path, model):
    prompts = tmp_path / "prompts.jsonl"
    lines = [json.dumps(f"row {i}") for i in range(7)]
    lines.insert(3, json.dumps({"messages": [{"role": "user", "content": "chat row"}]}))
    lines.insert(5, "")
    lines.append(json.dumps({"input": "last", "params": {"max_tokens": 5}}))
    prompts.write_text("\n".join(lines) + "\n")
    out = tmp_path / "answers.jsonl"
    done = llmreg(tmp_path, "predict", model, "--file", str(prompts), "--output", str(out))
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line)["prediction"] for line in out.read_text().splitlines()]
    expected = [f"echo: row {i}" for i in range(7)]
    expected.insert(3, "echo: chat row")
    assert answers == [*expected, "echo: last"]
    # no progress bar when stderr is not a terminal: only the store line
    assert all(line.startswith(b"store: ") for line in done.stderr.splitlines())


def test_predict_file_keeps_other_rows_when_one_fails(tmp_path, model):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('"a"\n"!fail"\n"c"\n')
    done = llmreg(tmp_path, "predict", model, "--file", str(prompts))
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["prediction"] for r in rows] == ["echo: a", None, "echo: c"]
    assert rows[1]["metadata"]["status"] == "error"
    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[-1] == (
        "error: PredictionError: 1 of 3 rows failed; each has status 'error' in the output"
    )


def test_predict_text_that_fails_exits_1_with_one_line(tmp_path, model):
    done = llmreg(tmp_path, "predict", model, "!fail")
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr.decode().count("\n") == 1
    assert done.stderr.startswith(b"error: PredictionError: echo provider was asked to fail")


@pytest.mark.parametrize(
    "content, error",
    [
        (b"\xff\xfe not utf-8\n", "SchemaError: prompts file {path} is not UTF-8 text"),
        (b'"ok"\n{not json\n', "SchemaError: prompts file {path} line 2 is not valid JSON"),
        (b"\n\n", "SchemaError: prompts file {path} has no rows"),
        (b'{"prompt": "x"}\n', "SchemaError: prompts file {path} has 1 invalid row: line 1"),
        (b'"a"\n\n{"messages": [{"content": "x"}]}\n', "line 3: messages.0.role: Field required"),
    ],
)
def test_bad_prompt_files_are_one_typed_line(tmp_path, model, content, error):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(content)
    done = llmreg(tmp_path, "predict", model, "--file", str(path))
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert error.format(path=path) in stderr
    assert done.stdout == b""


def test_missing_prompt_file_is_a_typed_error(tmp_path, model):
    done = llmreg(tmp_path, "predict", model, "--file", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 1
    assert done.stderr.decode().startswith("error: ConfigFileNotFoundError: prompts file")


def test_missing_model_is_a_typed_error_and_debug_shows_the_traceback(tmp_path):
    done = llmreg(tmp_path, "predict", f"folder:{tmp_path / 'none'}", "hi")
    assert done.returncode == 1
    assert done.stderr.decode().startswith("error: ModelNotFoundError: no model at folder:")
    debug = llmreg(tmp_path, "--debug", "predict", f"folder:{tmp_path / 'none'}", "hi")
    assert debug.returncode == 1 and b"Traceback" in debug.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "folder:x"],
        ["predict", "folder:x", "text", "--file", "f.jsonl"],
        ["predict", "folder:x", "t", "--concurrency", "0"],
        ["predict"],
    ],
)
def test_usage_errors_exit_2(tmp_path, args):
    done = llmreg(tmp_path, *args)
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr


# --- in-process: the params the adapter receives ----------------------------

SEEN: list[dict[str, Any] | None] = []
predict_module = importlib.import_module("llmreg.cli.predict")  # llmreg.cli.predict is the command


class RecordingAdapter(Adapter):
    def predict(self, inputs: Any, params: dict[str, Any] | None = None) -> Outputs:
        SEEN.append(params)
        rows = Inputs.parse(inputs).rows
        return Outputs(rows=[Result(prediction=r.input, metadata={"status": "ok"}) for r in rows])


class RecordingLoader(Loader):
    KIND: Literal["RecordingLoader"] = "RecordingLoader"

    def load(self, uri: str) -> RecordingAdapter:
        return RecordingAdapter()


class _Plugin:
    @hookimpl
    def llmreg_register_loaders(self, register):
        register(RecordingLoader)


@pytest.fixture
def recording(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    SEEN.clear()
    set_plugin_manager(isolated_manager(_Plugin()))
    yield
    set_plugin_manager(None)


def test_concurrency_is_passed_to_the_adapter_as_a_param(recording, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps(str(i)) for i in range(30)))
    done = CliRunner().invoke(
        cli,
        [
            "--loader",
            "RecordingLoader",
            "predict",
            "x",
            "--file",
            str(prompts),
            "--concurrency",
            "3",
        ],
    )
    assert done.exit_code == 0, done.stderr
    assert [json.loads(line)["prediction"] for line in done.stdout.splitlines()] == [
        str(i) for i in range(30)
    ]
    # chunks of 4 x concurrency rows, each with the override
    assert SEEN == [{"concurrency": 3}] * 3


def test_no_concurrency_option_passes_no_param(recording):
    done = CliRunner().invoke(cli, ["--loader", "RecordingLoader", "predict", "x", "hi"])
    assert done.exit_code == 0 and done.stdout == "hi\n"
    assert SEEN == [{}]


def test_progress_bar_only_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert predict_module._progress(3).__class__.__name__ == "ProgressBar"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert predict_module._progress(3).__class__.__name__ == "_LineBar"  # periodic lines, not a bar
