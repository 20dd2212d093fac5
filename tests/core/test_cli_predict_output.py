"""``llmreg predict --file``: nothing answered is lost, and nothing is sent before the output
is known to be writable.

Run in-process with a counting adapter: every row it answers is recorded, so a test
can tell what was (or was not) sent upstream.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner

from llmreg import Adapter, Inputs, Loader, Outputs, Result, hookimpl
from llmreg.cli import cli
from llmreg.manager import set_plugin_manager
from llmreg.testing import isolated_manager

ASKED: list[str] = []
#: Raise KeyboardInterrupt when this many rows were asked before a batch (None: never).
STOP_AFTER: list[int | None] = [None]


class CountingAdapter(Adapter):
    def predict(self, inputs: Any, params: dict[str, Any] | None = None) -> Outputs:
        rows = Inputs.parse(inputs).rows
        if STOP_AFTER[0] is not None and len(ASKED) >= STOP_AFTER[0]:
            raise KeyboardInterrupt
        texts = [r.input if r.input is not None else r.messages[-1].content for r in rows]
        ASKED.extend(texts)
        return Outputs(
            rows=[
                Result(prediction=None, metadata={"status": "error", "error": "asked to fail"})
                if t.startswith("!fail")
                else Result(prediction=f"echo: {t}", metadata={"status": "ok"})
                for t in texts
            ]
        )


class CountingLoader(Loader):
    KIND: Literal["CountingLoader"] = "CountingLoader"

    def load(self, uri: str) -> CountingAdapter:
        return CountingAdapter()


class _Plugin:
    @hookimpl
    def llmreg_register_loaders(self, register):
        register(CountingLoader)


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ASKED.clear()
    STOP_AFTER[0] = None
    set_plugin_manager(isolated_manager(_Plugin()))

    def invoke(*args: str):
        base = ["--loader", "CountingLoader", "predict", "m", "--concurrency", "1"]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    yield invoke
    set_plugin_manager(None)


def _prompts(tmp_path: Path, lines: list[Any], name: str = "p.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return str(path)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x1c", "\x1e"])
def test_lines_split_on_newline_only(run, tmp_path, separator):
    text = f"before{separator}after"
    path = tmp_path / "p.jsonl"
    line = json.dumps(text, ensure_ascii=False)
    path.write_text(f'{line}\r\n{{"input": "two"}}\n', encoding="utf-8")
    done = run("--file", str(path))
    assert done.exit_code == 0, done.stderr
    assert [text, "two"] == ASKED


def test_an_output_folder_is_refused_before_any_row_is_sent(run, tmp_path):
    (tmp_path / "out").mkdir()
    done = run("--file", _prompts(tmp_path, ["a", "b"]), "--output", str(tmp_path / "out"))
    assert done.exit_code == 1
    assert done.stderr.startswith("error: ConfigError: cannot write ")
    assert "is a folder" in done.stderr
    assert ASKED == []


def test_a_missing_output_folder_is_refused_before_any_row_is_sent(run, tmp_path):
    done = run("--file", _prompts(tmp_path, ["a"]), "--output", str(tmp_path / "no" / "o.jsonl"))
    assert done.exit_code == 1 and "does not exist" in done.stderr
    assert ASKED == []


def test_answers_go_to_a_partial_file_then_the_output(run, tmp_path):
    out = tmp_path / "out.jsonl"
    done = run("--file", _prompts(tmp_path, [f"r{i}" for i in range(10)]), "--output", str(out))
    assert done.exit_code == 0, done.stderr
    assert [json.loads(x)["prediction"] for x in out.read_text().splitlines()] == [
        f"echo: r{i}" for i in range(10)
    ]
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_an_interrupt_keeps_what_was_answered_and_resume_answers_the_rest(run, tmp_path):
    prompts = _prompts(tmp_path, [{"id": f"q{i}", "input": f"r{i}"} for i in range(10)])
    out = tmp_path / "out.jsonl"
    STOP_AFTER[0] = 8  # chunks of 4 rows: two chunks answered, then Ctrl-C
    done = run("--file", prompts, "--output", str(out))
    assert done.exit_code == 1
    partial = tmp_path / "out.jsonl.partial"
    assert done.stderr.startswith("error: PredictionInterruptedError: interrupted: 8 of 10 rows")
    assert str(partial) in done.stderr and "--resume" in done.stderr
    assert not out.exists()
    kept = [json.loads(x) for x in partial.read_text().splitlines()]
    expected = [(f"q{i}", f"echo: r{i}") for i in range(8)]
    assert [(r["id"], r["prediction"]) for r in kept] == expected

    # a run without --resume never overwrites the kept answers
    again = run("--file", prompts, "--output", str(out))
    assert again.exit_code == 1 and "add --resume" in again.stderr
    assert len(partial.read_text().splitlines()) == 8

    STOP_AFTER[0] = None
    ASKED.clear()
    resumed = run("--file", prompts, "--output", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert ASKED == ["r8", "r9"]  # only the rows not answered yet were sent
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(10)]
    assert not partial.exists()


def test_resume_drops_a_line_cut_short_and_checks_the_ids(run, tmp_path):
    prompts = _prompts(tmp_path, [{"id": i, "input": f"r{i}"} for i in range(3)])
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    first = json.dumps({"id": 0, "prediction": "echo: r0", "metadata": {"status": "ok"}})
    partial.write_text(first + '\n{"id": 1, "predic', encoding="utf-8")
    done = run("--file", prompts, "--output", str(out), "--resume")
    assert done.exit_code == 0, done.stderr
    assert ASKED == ["r1", "r2"]
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [0, 1, 2]

    partial.write_text(first.replace('"id": 0', '"id": 7') + "\n", encoding="utf-8")
    mismatch = run("--file", prompts, "--output", str(out), "--resume")
    assert mismatch.exit_code == 1 and "does not match the prompts file" in mismatch.stderr


def test_an_interrupt_before_any_answer_keeps_no_empty_file(run, tmp_path):
    STOP_AFTER[0] = 0
    out = tmp_path / "out.jsonl"
    done = run("--file", _prompts(tmp_path, ["a"]), "--output", str(out))
    assert done.exit_code == 1 and "0 of 1 rows answered; nothing kept" in done.stderr
    assert list(tmp_path.glob("out.jsonl*")) == []


def test_failed_rows_are_counted_and_the_output_named(run, tmp_path):
    out = tmp_path / "out.jsonl"
    done = run("--file", _prompts(tmp_path, ["a", "!fail", "c"]), "--output", str(out))
    assert done.exit_code == 1
    assert f"1 of 3 rows failed; each has status 'error' in the output ({out})" in done.stderr
    assert len(out.read_text().splitlines()) == 3


@pytest.mark.parametrize(
    "lines, says",
    [
        (["ok", {"id": True, "input": "x"}], "line 2: 'id' must be a string or an integer"),
        (["ok", 5], "line 2: a row is a string or an object"),
        (["ok", {"input": "a", "messages": []}], "line 2: "),
    ],
)
def test_bad_rows_name_their_line(run, tmp_path, lines, says):
    done = run("--file", _prompts(tmp_path, lines))
    assert done.exit_code == 1 and says in done.stderr
    assert ASKED == []


def test_thousands_of_bad_rows_give_one_short_line(run, tmp_path):
    done = run("--file", _prompts(tmp_path, [{"prompt": i} for i in range(2000)]))
    assert done.exit_code == 1
    assert done.stderr.count("\n") == 1 and len(done.stderr) < 3000
    assert "has 2000 invalid rows: line 1: " in done.stderr and "and 1990 more lines" in done.stderr


@pytest.mark.parametrize(
    "content, says",
    [
        ('{"input": ' + "[" * 3000 + "]" * 3000 + "}\n", "nested 3001 levels deep"),
        ('{"input": NaN}\n', "NaN is not JSON"),
        ('{"input": "a", "input": "b"}\n', "the key 'input' is given twice"),
    ],
)
def test_lines_that_are_not_plain_json_are_schema_errors(run, tmp_path, content, says):
    path = tmp_path / "p.jsonl"
    path.write_text(content, encoding="utf-8")
    done = run("--file", str(path))
    assert done.exit_code == 1 and "SchemaError" in done.stderr and says in done.stderr


def test_a_prompts_folder_is_named_as_a_folder(run, tmp_path):
    done = run("--file", str(tmp_path))
    assert done.exit_code == 1 and "is a folder" in done.stderr
