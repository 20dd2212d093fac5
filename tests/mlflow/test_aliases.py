"""Promote, rollback and history, each checked from a second process reading the registry."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from llmreg.errors import InvalidModelURIError, ModelNotFoundError, RegistrationError
from llmreg.results import AliasMove
from llmreg_mlflow import MlflowRegister

READ_ALIAS = """
import json
from llmreg_mlflow import MlflowRegister
from mlflow import MlflowClient
holder = MlflowClient().get_registered_model({name!r}).aliases.get({alias!r})
print(json.dumps({{
    "alias": None if holder is None else int(holder),
    "history": [move.to_dict() for move in MlflowRegister().history({name!r}, {alias!r})],
}}))
"""

ROLLBACK = """
import json
from llmreg_mlflow import MlflowRegister
move = MlflowRegister().rollback({name!r}, {alias!r})
print(json.dumps({{"version": move.version}}))
"""


@pytest.fixture
def three_versions(name, log_model) -> str:
    register = MlflowRegister()
    for content in ("first", "second", "third"):
        register.register(name, log_model(f"{name}-{content}").model_uri)
    return name


def _alias(name: str, alias: str) -> int | None:
    holder = MlflowClient().get_registered_model(name).aliases.get(alias)
    return int(holder) if holder is not None else None


def test_promote_moves_the_alias_and_records_it(three_versions, second_process) -> None:
    name = three_versions
    register = MlflowRegister()
    moved = register.promote(name, 1)
    again = register.promote(name, "2")

    assert isinstance(moved, AliasMove) and isinstance(again, AliasMove)
    assert (moved.version, moved.previous, moved.action) == (1, None, "promote")
    assert (again.version, again.previous, again.alias) == (2, 1, "champion")
    assert again.uri == f"models:/{name}@champion"
    assert again.at is not None and again.at.endswith("Z")
    seen = second_process(READ_ALIAS.format(name=name, alias="champion"))
    assert seen["alias"] == 2
    moves = [(m["action"], m["version"], m["previous"]) for m in seen["history"]]
    assert moves == [("promote", 1, None), ("promote", 2, 1)]
    assert all(m["at"].endswith("Z") for m in seen["history"])


def test_rollback_from_a_fresh_process_puts_back_the_previous_version(
    three_versions, second_process
) -> None:
    name = three_versions
    register = MlflowRegister()
    for version in (1, 2, 3):
        register.promote(name, version, "prod")

    assert second_process(ROLLBACK.format(name=name, alias="prod")) == {"version": 2}
    assert _alias(name, "prod") == 2
    assert second_process(ROLLBACK.format(name=name, alias="prod")) == {"version": 1}
    assert _alias(name, "prod") == 1

    seen = second_process(READ_ALIAS.format(name=name, alias="prod"))
    assert [m["action"] for m in seen["history"]] == ["promote"] * 3 + ["rollback"] * 2
    assert seen["history"][-1]["version"] == 1 and seen["history"][-1]["previous"] == 2


def test_rollback_without_an_earlier_version_is_a_typed_error(three_versions) -> None:
    name = three_versions
    register = MlflowRegister()
    with pytest.raises(RegistrationError, match="no earlier version"):
        register.rollback(name)
    register.promote(name, 1)
    with pytest.raises(RegistrationError, match="no earlier version"):
        register.rollback(name)
    assert _alias(name, "champion") == 1


def test_rollback_to_a_deleted_version_is_a_typed_error(three_versions) -> None:
    name = three_versions
    register = MlflowRegister()
    register.promote(name, 1)
    register.promote(name, 2)
    MlflowClient().delete_model_version(name, "1")
    with pytest.raises(RegistrationError, match="no longer exists"):
        register.rollback(name)
    assert _alias(name, "champion") == 2


def test_promoting_a_missing_version_leaves_the_alias(three_versions, second_process) -> None:
    name = three_versions
    register = MlflowRegister()
    register.promote(name, 2)
    with pytest.raises(ModelNotFoundError, match="promoting version 9"):
        register.promote(name, 9)
    seen = second_process(READ_ALIAS.format(name=name, alias="champion"))
    assert seen["alias"] == 2
    assert len(seen["history"]) == 1


def test_promoting_the_current_version_records_nothing(three_versions) -> None:
    name = three_versions
    register = MlflowRegister()
    register.promote(name, 3)
    same = register.promote(name, 3)
    assert (same.version, same.previous, same.moved) == (3, 3, False)
    assert len(register.history(name)) == 1


def test_history_is_bounded(three_versions) -> None:
    name = three_versions
    register = MlflowRegister(history_limit=4)
    for version in (1, 2, 3, 1, 2, 3):
        register.promote(name, version)
    history = register.history(name)
    assert all(isinstance(m, AliasMove) for m in history)
    assert [m.version for m in history] == [3, 1, 2, 3]


def test_aliases_are_independent(three_versions) -> None:
    name = three_versions
    register = MlflowRegister()
    register.promote(name, 1, "champion")
    register.promote(name, 3, "challenger")
    assert [m.version for m in register.history(name, "challenger")] == [3]
    assert _alias(name, "champion") == 1


@pytest.mark.parametrize("version", [0, -1, "latest", "1.0"])
def test_promote_rejects_malformed_versions(three_versions, version) -> None:
    with pytest.raises(InvalidModelURIError, match="version"):
        MlflowRegister().promote(three_versions, version)


def test_alias_workflow_on_an_unknown_model_is_a_typed_error(name, store) -> None:
    register = MlflowRegister()
    with pytest.raises(ModelNotFoundError):
        register.promote(name, 1)
    with pytest.raises(ModelNotFoundError):
        register.rollback(name)
    with pytest.raises(ModelNotFoundError):
        register.history(name)
    assert name not in store.registered_model_names()
