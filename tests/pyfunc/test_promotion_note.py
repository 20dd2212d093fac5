"""A checked promote records its decision, with the numbers, in the alias history.

``llmreg promote --require/--not-worse-than`` passes the gate's decision to the
register as the move's ``note``; ``llmreg history NAME --json`` shows it (real
sqlite store, the echo provider, the CLI in-process).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from llmreg.definition import ModelDefinition
from llmreg_mlflow import MlflowRegister
from llmreg_pyfunc import CustomSaver


def _cli(*args: str) -> Any:
    from llmreg.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_the_decision_is_recorded_with_the_move(
    experiment: str, store: Path, tmp_path: Path
) -> None:
    name = f"note-{uuid.uuid4().hex[:8]}"
    first = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="a"))
    second = CustomSaver(experiment=experiment).save(ModelDefinition(provider="echo", model="b"))
    MlflowRegister().register(name, first.uri)
    MlflowRegister().register(name, second.uri)
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"input": "x", "expected": "echo: x"}) + "\n")
    for version in (1, 2):
        done = _cli("evaluate", f"models:/{name}/{version}", "--data", str(data),
                    "--scorer", "exact_match")  # fmt: skip
        assert done.exit_code == 0, done.output

    plain = _cli("promote", name, "1", "--json")
    assert plain.exit_code == 0, plain.output
    checked = _cli(
        "promote", name, "2", "--require", "exact_match >= 0.5", "--not-worse-than", "champion",
        "--json",
    )  # fmt: skip
    assert checked.exit_code == 0, checked.output
    decision = (
        "require exact_match>=0.5: 1 (candidate) ok; not worse than @champion (version 1): "
        "exact_match 1 vs 1, failed_rows 0 vs 0 ok"
    )
    assert json.loads(checked.stdout)["note"] == decision

    history = _cli("history", name, "--json")
    assert history.exit_code == 0, history.output
    moves = json.loads(history.stdout)["moves"]
    assert [(m["version"], m["previous"], m["note"]) for m in moves] == [
        (1, None, None),
        (2, 1, decision),
    ]
    assert moves[1]["by"]  # the user of the process
    # the version tag some readers use is kept too
    assert MlflowRegister().versions(name)[1].tags["llmreg.promotion_check"] == decision

    # a rollback keeps the earlier move's note in the history
    assert _cli("rollback", name).exit_code == 0
    after = MlflowRegister().history(name)
    assert [(m.action, m.version, m.note) for m in after] == [
        ("promote", 1, None),
        ("promote", 2, decision),
        ("rollback", 1, None),
    ]


def test_a_register_without_note_still_promotes_with_a_check() -> None:
    """An older register's promote (no ``note`` keyword) is called without it."""
    from llmreg.cli.lifecycle import _takes_note

    def old(name: str, version: int | str, alias: str = "champion") -> None:
        """An older promote."""

    def new(name: str, version: int | str, alias: str = "champion", *, note: str | None = None):
        """A promote with a note."""

    assert not _takes_note(old)
    assert _takes_note(new)
    assert _takes_note(MlflowRegister().promote)
