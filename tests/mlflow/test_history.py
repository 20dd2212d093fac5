"""The audit trail's pure logic: recording moves, bounding them, and the rollback target."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmreg.errors import RegistrationError
from llmreg_mlflow import history


def _promote(entries: list[dict], version: int, previous: int | None) -> list[dict]:
    return history.record(entries, version=version, previous=previous, action="promote")


def test_record_appends_a_utc_entry() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    entries = history.record([], version=2, previous=1, action="promote", at=moment)
    assert entries == [
        {"version": 2, "previous": 1, "at": "2026-01-02T03:04:05.000Z", "action": "promote"}
    ]


def test_record_keeps_only_the_last_moves() -> None:
    entries: list[dict] = []
    for version in range(1, 8):
        entries = history.record(
            entries, version=version, previous=version - 1, action="promote", limit=3
        )
    assert [e["version"] for e in entries] == [5, 6, 7]


def test_rollbacks_walk_back_like_a_stack() -> None:
    entries = _promote(_promote(_promote([], 1, None), 2, 1), 3, 2)
    assert history.rollback_target(entries) == 2
    entries = history.record(entries, version=2, previous=3, action="rollback")
    assert history.rollback_target(entries) == 1
    entries = history.record(entries, version=1, previous=2, action="rollback")
    assert history.rollback_target(entries) is None


def test_no_moves_no_target() -> None:
    assert history.rollback_target([]) is None


def test_roundtrip_through_the_tag_text() -> None:
    entries = _promote([], 1, None)
    assert history.parse_history(history.dump(entries)) == entries
    assert history.parse_history(None) == []


@pytest.mark.parametrize("raw", ["{not json", '{"a": 1}', "[1, 2]"])
def test_a_broken_tag_is_a_typed_error(raw: str) -> None:
    with pytest.raises(RegistrationError, match="delete the tag"):
        history.parse_history(raw, "llmreg.alias_history.champion")
