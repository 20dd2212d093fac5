"""``llmreg predict --output PATH --resume``: every kept answer stays on its own prompt.

Answers are matched to rows by ``id`` (where the ids are unique) or by row and a hash
of the row; a prompts file edited since the answers were made is refused, naming
the first answer that no longer fits, and the kept answers are left as they were.
Rows that failed are asked again on resume, and the final file is in input order.

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
#: Prompts answered with status "error" (an upstream that failed on them, for now).
FAILING: set[str] = set()
#: Raise KeyboardInterrupt when this many rows were asked before a batch (None: never).
STOP_AFTER: list[int | None] = [None]


class CountingAdapter(Adapter):
    def predict(self, inputs: Any, params: dict[str, Any] | None = None) -> Outputs:
        if STOP_AFTER[0] is not None and len(ASKED) >= STOP_AFTER[0]:
            raise KeyboardInterrupt
        texts = [r.input for r in Inputs.parse(inputs).rows]
        ASKED.extend(texts)
        failed = Result(prediction=None, metadata={"status": "error", "error": "upstream 503"})
        answers = [Result(prediction=f"echo: {t}", metadata={"status": "ok"}) for t in texts]
        chosen = zip(texts, answers, strict=True)
        return Outputs(rows=[failed if t in FAILING else a for t, a in chosen])


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
    FAILING.clear()
    STOP_AFTER[0] = None
    set_plugin_manager(isolated_manager(_Plugin()))

    def invoke(*args: str):
        base = ["--loader", "CountingLoader", "predict", "m", "--concurrency", "1"]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    yield invoke
    set_plugin_manager(None)


def _write(path: Path, rows: list[Any]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _interrupted(run, tmp_path: Path, rows: list[Any], after: int) -> tuple[str, Path, Path]:
    """Run until ``after`` rows were asked, then Ctrl-C; return the prompts, PATH, PATH.partial."""
    prompts = _write(tmp_path / "p.jsonl", rows)
    out = tmp_path / "out.jsonl"
    STOP_AFTER[0] = after
    done = run("--file", prompts, "--output", str(out))
    assert done.exit_code == 1 and "--resume" in done.stderr
    STOP_AFTER[0] = None
    ASKED.clear()
    return prompts, out, tmp_path / "out.jsonl.partial"


def _answers(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize(
    "edit, answer, row",
    [
        (lambda rows: ["a new first line", *rows], 1, 1),  # every row moved down by one
        (lambda rows: [*rows[:5], "r5 edited", *rows[6:]], 6, 6),  # one row changed
        (lambda rows: rows[:6], 7, 7),  # rows removed: answer 7 is beyond the end
    ],
)
def test_an_edited_prompts_file_without_ids_is_refused(run, tmp_path, edit, answer, row):
    rows = [f"r{i}" for i in range(12)]
    prompts, out, partial = _interrupted(run, tmp_path, rows, after=8)
    before = partial.read_bytes()
    _write(Path(prompts), edit(rows))
    done = run("--file", prompts, "--output", str(out), "--resume")
    assert done.exit_code == 1
    assert done.stderr.startswith(
        f"error: ConfigError: {partial} does not match the prompts file at answer {answer}: "
    )
    assert f"row {row} " in done.stderr and f"delete {partial} to start over" in done.stderr
    assert ASKED == []  # nothing sent
    assert partial.read_bytes() == before and not out.exists()  # the answers kept as they were


def test_rows_with_ids_are_matched_by_id_after_an_edit(run, tmp_path):
    rows = [{"id": f"q{i}", "input": f"r{i}"} for i in range(12)]
    prompts, out, _ = _interrupted(run, tmp_path, rows, after=8)
    edited = [{"id": "new", "input": "inserted"}, *rows]
    _write(Path(prompts), edited)
    done = run("--file", prompts, "--output", str(out), "--resume")
    assert done.exit_code == 0, done.stderr
    assert ASKED == ["inserted", "r8", "r9", "r10", "r11"]  # the 8 kept answers were not re-asked
    answers = _answers(out)
    assert [a["id"] for a in answers] == [r["id"] for r in edited]  # in input order
    assert [a["prediction"] for a in answers] == [f"echo: {r['input']}" for r in edited]
    assert [a["row"] for a in answers] == list(range(1, 14))


def test_a_row_with_an_id_whose_prompt_changed_is_refused(run, tmp_path):
    rows = [{"id": f"q{i}", "input": f"r{i}"} for i in range(12)]
    prompts, out, _ = _interrupted(run, tmp_path, rows, after=8)
    _write(Path(prompts), [*rows[:3], {"id": "q3", "input": "another question"}, *rows[4:]])
    done = run("--file", prompts, "--output", str(out), "--resume")
    assert done.exit_code == 1 and ASKED == []
    assert "does not match the prompts file at answer 4: it answers another prompt" in done.stderr


def test_an_unchanged_prompts_file_resumes_with_repeated_rows(run, tmp_path):
    rows = ["same", "same", "other", "same"] * 3
    prompts, out, _ = _interrupted(run, tmp_path, rows, after=4)
    done = run("--file", prompts, "--output", str(out), "--resume")
    assert done.exit_code == 0, done.stderr
    assert len(ASKED) == 8
    assert [a["prediction"] for a in _answers(out)] == [f"echo: {r}" for r in rows]


@pytest.mark.parametrize("ids", [False, True])
def test_failed_rows_of_a_finished_run_are_asked_again(run, tmp_path, ids):
    rows: list[Any] = [f"r{i}" for i in range(6)]
    if ids:
        rows = [{"id": i, "input": text} for i, text in enumerate(rows)]
    prompts = _write(tmp_path / "p.jsonl", rows)
    out = tmp_path / "out.jsonl"
    FAILING.update({"r1", "r4"})
    first = run("--file", prompts, "--output", str(out))
    assert first.exit_code == 1 and "2 of 6 rows failed" in first.stderr
    assert [a["metadata"]["status"] for a in _answers(out)].count("error") == 2

    FAILING.clear()
    ASKED.clear()
    resumed = run("--file", prompts, "--output", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert ASKED == ["r1", "r4"]  # only the failed rows were asked again
    answers = _answers(out)
    assert [a["prediction"] for a in answers] == [f"echo: r{i}" for i in range(6)]
    assert {a["metadata"]["status"] for a in answers} == {"ok"}
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_failed_rows_kept_by_an_interrupt_are_asked_again_in_order(run, tmp_path):
    FAILING.add("r1")
    prompts, out, partial = _interrupted(run, tmp_path, [f"r{i}" for i in range(10)], after=8)
    FAILING.clear()
    FAILING.add("r9")  # failing on resume: counted, and kept in its place
    done = run("--file", prompts, "--output", str(out), "--resume")
    assert done.exit_code == 1 and "1 of 10 rows failed" in done.stderr
    assert ASKED == ["r1", "r8", "r9"]
    answers = _answers(out)
    assert [a["row"] for a in answers] == list(range(1, 11))
    assert [a["prediction"] for a in answers] == [f"echo: r{i}" for i in range(9)] + [None]
    assert not partial.exists()

    FAILING.clear()
    ASKED.clear()
    again = run("--file", prompts, "--output", str(out), "--resume")
    assert again.exit_code == 0, again.stderr
    assert ASKED == ["r9"]
    assert [a["prediction"] for a in _answers(out)] == [f"echo: r{i}" for i in range(10)]
