"""A move's ``note`` and ``by`` are stored with it and survive the replay (pure logic),
and MlflowRegister.promote(note=...) returns and lists them (real sqlite store)."""

from __future__ import annotations

import doctest
import json

from llmreg_mlflow import MlflowRegister, history


def test_move_value_keeps_note_and_by_and_replay_passes_them_on() -> None:
    first = json.loads(history.move_value("champion", version=1, previous=None, action="promote"))
    second = json.loads(
        history.move_value(
            "champion", version=2, previous=1, action="promote", note="x>=1: 1 ok", by="ci"
        )
    )
    assert second["note"] == "x>=1: 1 ok" and second["by"] == "ci"
    assert "note" not in first
    moved = history.replay([first, second])[0]
    assert moved[1]["note"] == "x>=1: 1 ok" and moved[1]["by"] == "ci"
    assert "note" not in moved[0]


def test_a_long_note_is_cut() -> None:
    value = history.move_value(
        "a", version=1, previous=None, action="promote", note="n" * 10_000, by="u"
    )
    assert len(json.loads(value)["note"]) == history.MAX_NOTE_CHARS


def test_the_module_examples_run() -> None:
    assert doctest.testmod(history).failed == 0


def test_promote_with_a_note_on_a_real_store(log_model, name) -> None:
    register = MlflowRegister()
    for content in ("a", "b"):
        register.register(name, log_model(content).model_uri)
    register.promote(name, 1)
    move = register.promote(name, 2, note="require accuracy>=0.8: 0.9 (candidate) ok")
    assert move.note == "require accuracy>=0.8: 0.9 (candidate) ok"
    assert move.by
    assert [(m.version, m.note) for m in register.history(name)] == [
        (1, None),
        (2, "require accuracy>=0.8: 0.9 (candidate) ok"),
    ]
