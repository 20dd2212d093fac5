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


# --- one tag per move ---------------------------------------------------------------------


def _tags(*moves: tuple[str, int, int | None, str]) -> dict[str, str]:
    """Move tags in the given order: (alias, version, previous, action)."""
    tags: dict[str, str] = {}
    for alias, version, previous, action in moves:
        key = history.new_move_key(list(tags))
        tags[key] = history.move_value(alias, version=version, previous=previous, action=action)
    return tags


def test_move_keys_sort_after_every_key_seen_even_with_a_clock_behind() -> None:
    first = history.new_move_key(now_ns=1_000)
    second = history.new_move_key([first], now_ns=10)  # the clock went back
    assert first < second
    assert len({history.new_move_key(now_ns=5) for _ in range(100)}) == 100


def test_concurrent_writers_that_saw_the_same_state_give_one_chain() -> None:
    # three writers all saw version 1 held, then each recorded its own promote
    tags = _tags(
        ("champion", 1, None, "promote"),
        ("champion", 2, 1, "promote"),
        ("champion", 3, 1, "promote"),
        ("champion", 4, 1, "promote"),
    )
    entries = [entry for _, entry in history.trail(tags, "champion")]
    moves, current, _ = history.replay(entries)
    assert [(m["version"], m["previous"]) for m in moves] == [(1, None), (2, 1), (3, 2), (4, 3)]
    assert current == 4
    assert history.rollback_target(entries) == 3


def test_the_trail_reads_the_older_list_first_and_only_its_alias() -> None:
    legacy = history.dump(
        history.record(
            history.record([], version=1, previous=None, action="promote"),
            version=2,
            previous=1,
            action="promote",
        )
    )
    tags = {
        history.history_tag("champion"): legacy,
        **_tags(("challenger", 9, None, "promote"), ("champion", 3, 2, "promote")),
    }
    moves = history.trail(tags, "champion")
    assert [(key == "", entry["version"]) for key, entry in moves] == [
        (True, 1),
        (True, 2),
        (False, 3),
    ]
    assert [e["version"] for _, e in history.trail(tags, "challenger")] == [9]


def test_a_promote_to_the_version_held_changes_nothing_and_rollbacks_pop() -> None:
    entries = [
        {"action": "promote", "version": 1, "previous": None},
        {"action": "promote", "version": 2, "previous": 1},
        {"action": "promote", "version": 2, "previous": 1},
        {"action": "rollback", "version": 1, "previous": 2},
        {"action": "rollback", "version": None, "previous": 1},
    ]
    moves, current, stack = history.replay(entries)
    assert [m["version"] for m in moves] == [1, 2, 2, 1, None]
    assert current is None and stack == []


@pytest.mark.parametrize("value", ["{not json", '"text"', '{"alias": "champion"}'])
def test_a_broken_move_tag_is_a_typed_error(value: str) -> None:
    with pytest.raises(RegistrationError, match=r"llmreg\.alias_move"):
        history.trail({history.new_move_key(): value}, "champion")


def test_expired_moves_are_the_oldest_beyond_the_limit() -> None:
    moves = [(f"k{i}", {"version": i}) for i in range(5)]
    assert [k for k, _ in history.expired(moves, 3)] == ["k0", "k1"]
    assert history.expired(moves, 10) == []
