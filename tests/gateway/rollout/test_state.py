"""A rollout is a registry object: round trip, generation checks, history entries."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import pytest

from llmreg.errors import RegistrationError
from llmreg_gateway.rollout import operations
from llmreg_gateway.rollout.errors import (
    RolloutConflictError,
    RolloutError,
    RolloutInputError,
    RolloutNotFoundError,
    RolloutStateError,
)
from llmreg_gateway.rollout.spec import Guards, parse_interval, parse_steps, parse_sticky
from llmreg_gateway.rollout.state import RolloutStore, rollout_tag


def _start(rollouts: RolloutStore, clock, name: str, to: str = "2"):
    return operations.start(
        rollouts,
        clock,
        name,
        to=to,
        alias="champion",
        steps=(5, 25, 50, 100),
        interval_s=600.0,
        sticky_by="header:x-session",
        guards=Guards(max_error_rate=0.02, max_p95_ms=800.0, min_requests=50),
    )


def test_round_trip_through_the_registry(rollouts, register, clock, name) -> None:
    started = _start(rollouts, clock, name)
    # a second store on the same register (another replica) reads the same record
    again = RolloutStore(register).get(name, "champion")
    assert again == started
    assert (again.from_version, again.to_version, again.weight) == (1, 2, 5)
    assert again.guards == Guards(max_error_rate=0.02, max_p95_ms=800.0, min_requests=50)
    assert again.sticky_by == "header:x-session"
    assert again.pending == ()
    assert rollout_tag("champion") in register.read_model_tags(name)


def test_start_by_alias_and_history_note(rollouts, register, clock, name) -> None:
    register.promote(name, 3, "challenger")
    register.promote(name, 1, "champion")
    started = _start(rollouts, clock, name, to="challenger")
    assert started.to_version == 3
    moves = register.history(name, "champion")
    assert moves[-1].action == "note"
    assert moves[-1].version == moves[-1].previous == 1
    assert "rollout started: version 3 in place of 1" in (moves[-1].note or "")
    assert register.versions(name)[0].aliases == ("champion",)  # the alias did not move


def test_generation_increases_and_stale_writes_are_refused(rollouts, clock, name) -> None:
    started = _start(rollouts, clock, name)
    paused = operations.pause(rollouts, name, "champion")
    assert paused.generation > started.generation
    with pytest.raises(RolloutConflictError, match="changed meanwhile"):
        rollouts.save(replace(started, status="aborted"), expect=started.generation)
    assert rollouts.get(name, "champion").status == "paused"


def test_bad_input_is_refused_before_any_write(rollouts, register, clock, name) -> None:
    before = register.read_model_tags(name)
    with pytest.raises(RolloutInputError, match="no version 9"):
        _start(rollouts, clock, name, to="9")
    with pytest.raises(RolloutInputError, match="no alias 'nope'"):
        _start(rollouts, clock, name, to="nope")
    with pytest.raises(RolloutInputError, match="already holds"):
        _start(rollouts, clock, name, to="1")
    assert register.read_model_tags(name) == before
    with pytest.raises(RolloutNotFoundError, match="llmreg rollout start"):
        operations.pause(rollouts, name, "champion")


def test_one_active_rollout_per_alias_and_state_rules(rollouts, clock, name) -> None:
    _start(rollouts, clock, name)
    with pytest.raises(RolloutStateError, match="finish it first"):
        _start(rollouts, clock, name, to="3")
    with pytest.raises(RolloutStateError, match="not paused"):
        operations.resume(rollouts, clock, name, "champion")
    aborted = operations.abort(rollouts, name, "champion", "by test")
    assert aborted.weight == 0 and not aborted.active
    with pytest.raises(RolloutStateError, match="it is aborted"):
        operations.pause(rollouts, name, "champion")
    # a new rollout may start once the last ended; the generation keeps increasing
    again = _start(rollouts, clock, name, to="3")
    assert again.generation > aborted.generation


@pytest.mark.parametrize(
    ("parse", "text", "match"),
    [
        (parse_steps, "5,25,50", "end at 100"),
        (parse_steps, "50,25,100", "increasing"),
        (parse_steps, "5,x,100", "whole percentages"),
        (parse_interval, "10d", "positive duration"),
        (parse_interval, "0", "positive duration"),
        (parse_sticky, "cookie", "key, user or header:NAME"),
        (parse_sticky, "header:", "key, user or header:NAME"),
    ],
)
def test_option_parsing_names_the_option(parse, text, match) -> None:
    with pytest.raises(RolloutInputError, match=match):
        parse(text)


def test_option_parsing_values() -> None:
    assert parse_steps("5,25,50,100") == (5, 25, 50, 100)
    assert parse_interval("10m") == 600.0
    assert parse_interval("90") == 90.0
    assert parse_sticky("header:X-Session") == "header:x-session"
    with pytest.raises(RolloutInputError, match="--max-error-rate"):
        Guards(max_error_rate=5)
    with pytest.raises(RolloutInputError, match="--min-requests"):
        Guards(min_requests=0)


def test_a_hand_edited_record_is_named(rollouts, register, name) -> None:
    register.set_model_tag(name, rollout_tag("champion"), '{"status": "weird", "name": "x"}')
    with pytest.raises(RolloutError, match="unknown status 'weird'"):
        rollouts.get(name, "champion")
    register.set_model_tag(name, rollout_tag("champion"), "not json")
    with pytest.raises(RolloutError, match="is not JSON"):
        rollouts.get(name, "champion")


def test_notes_leave_promote_and_rollback_as_they_were(register, name) -> None:
    register.promote(name, 2, "champion")
    noted = register.note_alias(name, "champion", "a decision")
    assert (noted.action, noted.version, noted.previous) == ("note", 2, 2)
    assert not noted.moved
    back = register.rollback(name, "champion")  # the note is not a move: back to 1
    assert (back.version, back.previous) == (1, 2)
    assert [m.action for m in register.history(name, "champion")][-3:] == [
        "promote",
        "note",
        "rollback",
    ]
    with pytest.raises(RegistrationError, match="points at no version"):
        register.note_alias(name, "nowhere", "x")


def test_a_register_without_model_tags_is_named() -> None:
    from llmreg.bases import AliasRegister
    from llmreg.errors import ConfigError

    class Plain(AliasRegister):
        KIND: Literal["Plain"] = "Plain"

        def register(self, name, model_uri):
            raise NotImplementedError

        promote = rollback = history = versions = register  # type: ignore[assignment]

    with pytest.raises(ConfigError, match="'Plain' does not implement read_model_tags"):
        RolloutStore(Plain()).load("chat", "champion")
