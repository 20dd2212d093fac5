"""The audit trail of alias moves: one registered-model tag per move, safe under concurrency.

Each move is its own tag, ``llmreg.alias_move.<time ns>.<random>``, whose value
is ``{"alias", "version", "previous", "at", "action"}`` as JSON, plus ``by`` (the
user name of the process) and ``note`` (why: for a checked promote, the decision
with its numbers) where known. Writers never
read-modify-write a shared value, so concurrent promotes lose no move; the keys
sort in the order the moves were made (a writer's key sorts after every move it
has seen). The trail is the truth: replaying it (:func:`replay`) gives each
move's ``previous`` and the version the alias must hold, and the register sets
the alias to that, checking again after its write (see ``MlflowRegister``).

A rollback undoes the latest promote that is not undone yet, like a stack, so
three rollbacks after three promotes walk back three versions. The older form,
one JSON list per alias in ``llmreg.alias_history.<alias>``, is still read, as
the start of the trail. Pure functions: nothing here talks to MLflow.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from llmreg.errors import RegistrationError
from llmreg.results import AliasMove

#: The registered-model tag that holds the (older) history list of alias ``<alias>``.
HISTORY_TAG_PREFIX = "llmreg.alias_history."
#: The prefix of the tag of one move: ``llmreg.alias_move.<20-digit ns>.<12 hex>``.
MOVE_TAG_PREFIX = "llmreg.alias_move."
#: How many moves are kept per alias by default; older ones are dropped.
DEFAULT_HISTORY_LIMIT = 50
#: A move's note is cut to this many characters (the tag stays small).
MAX_NOTE_CHARS = 2000


def _user() -> str | None:
    """The user name of the process, or ``None`` where it cannot be told."""
    import getpass

    try:
        return getpass.getuser() or None
    except Exception:  # no user name in this environment (a container without passwd)
        return None


def history_tag(alias: str) -> str:
    """Return the tag key that holds the history of ``alias``."""
    return f"{HISTORY_TAG_PREFIX}{alias}"


def parse_history(raw: str | None, tag: str = "history") -> list[dict[str, Any]]:
    """Return the entries stored in a history tag value (``None`` -> no entries).

    Raises:
        RegistrationError: the tag does not hold a JSON list of entries.
    """
    if raw is None or raw == "":
        return []
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RegistrationError(
            f"the registered-model tag {tag!r} is not valid JSON ({exc}); delete the tag to "
            "start a fresh history"
        ) from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RegistrationError(
            f"the registered-model tag {tag!r} is not a JSON list of moves; delete the tag to "
            "start a fresh history"
        )
    return entries


def record(
    entries: list[dict[str, Any]],
    *,
    version: int,
    previous: int | None,
    action: str,
    limit: int = DEFAULT_HISTORY_LIMIT,
    at: datetime | None = None,
    note: str | None = None,
    by: str | None = None,
) -> list[dict[str, Any]]:
    """Return ``entries`` with one move appended, keeping the last ``limit`` moves.

    ``note`` (cut to :data:`MAX_NOTE_CHARS`) and ``by`` are stored when given.
    """
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    entry: dict[str, Any] = {
        "version": version,
        "previous": previous,
        "at": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "action": action,
    }
    if by:
        entry["by"] = by
    if note:
        entry["note"] = note[:MAX_NOTE_CHARS]
    return [*entries, entry][-limit:]


def rollback_target(entries: list[dict[str, Any]]) -> int | None:
    """Return the version a rollback goes back to, or ``None`` when there is none.

    Replays the moves as a stack (see :func:`replay`): a promote pushes the
    version it replaced, a rollback pops one. The answer is the top of the stack.

    Example:
        >>> moves = [
        ...     {"action": "promote", "version": 1, "previous": None},
        ...     {"action": "promote", "version": 2, "previous": 1},
        ... ]
        >>> rollback_target(moves)
        1
    """
    _, _, stack = replay(entries)
    return stack[-1] if stack else None


def dump(entries: list[dict[str, Any]]) -> str:
    """Return the compact JSON text stored in the tag."""
    return json.dumps(entries, separators=(",", ":"))


# --- one tag per move ------------------------------------------------------------------


def _key_ns(key: str) -> int:
    try:
        return int(key[len(MOVE_TAG_PREFIX) :].split(".", 1)[0])
    except ValueError:
        return 0


def new_move_key(seen: list[str] | None = None, now_ns: int | None = None) -> str:
    """Return a new, unique move tag key that sorts after every key in ``seen``.

    Example:
        >>> new_move_key(now_ns=5).startswith("llmreg.alias_move.00000000000000000005.")
        True
    """
    ns = time.time_ns() if now_ns is None else now_ns
    ns = max([ns, *(_key_ns(k) + 1 for k in (seen or []))])
    return f"{MOVE_TAG_PREFIX}{ns:020d}.{uuid.uuid4().hex[:12]}"


def move_value(
    alias: str,
    *,
    version: int,
    previous: int | None,
    action: str,
    at: datetime | None = None,
    note: str | None = None,
    by: str | None = None,
) -> str:
    """Return the JSON value of one move's tag, with ``by`` (the process's user when not
    given) and ``note`` where known.

    Example:
        >>> import json
        >>> value = move_value(
        ...     "champion", version=2, previous=1, action="promote", note="accuracy ok", by="ci"
        ... )
        >>> entry = json.loads(value)
        >>> entry["version"], entry["previous"], entry["by"], entry["note"]
        (2, 1, 'ci', 'accuracy ok')
    """
    entry = record(
        [], version=version, previous=previous, action=action, at=at, note=note, by=by or _user()
    )[0]
    return json.dumps({"alias": alias, **entry}, separators=(",", ":"))


def move_of(name: str, value: str) -> AliasMove:
    """Return the move of registered model ``name`` that a move tag's ``value`` records
    (as :func:`move_value` wrote it: alias, version, previous, action, at, by, note).

    Example:
        >>> value = move_value("champion", version=2, previous=1, action="promote", by="ci")
        >>> move = move_of("qa", value)
        >>> move.alias, move.version, move.previous, move.action, move.by, move.note
        ('champion', 2, 1, 'promote', 'ci', None)
    """
    entry = json.loads(value)
    return AliasMove(
        name,
        entry["alias"],
        entry["version"],
        entry["previous"],
        entry["action"],
        at=entry.get("at"),
        by=entry.get("by"),
        note=entry.get("note"),
    )


def trail(tags: Mapping[str, str], alias: str) -> list[tuple[str, dict[str, Any]]]:
    """Return the moves of ``alias`` as ``(tag key, entry)``, oldest first.

    The older list tag comes first (its entries have the key ``""``), then the
    move tags in key order.

    Raises:
        RegistrationError: a tag of this alias does not hold a valid move.
    """
    legacy_tag = history_tag(alias)
    moves: list[tuple[str, dict[str, Any]]] = [
        ("", entry) for entry in parse_history(tags.get(legacy_tag), legacy_tag)
    ]
    for key in sorted(k for k in tags if k.startswith(MOVE_TAG_PREFIX)):
        try:
            entry = json.loads(tags[key])
        except json.JSONDecodeError as exc:
            raise RegistrationError(
                f"the registered-model tag {key!r} is not valid JSON ({exc}); delete the tag"
            ) from exc
        if not isinstance(entry, dict) or "action" not in entry:
            raise RegistrationError(f"the registered-model tag {key!r} is not a move; delete it")
        if entry.get("alias") == alias:
            moves.append((key, entry))
    return moves


def replay(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int | None, list[Any]]:
    """Replay moves in order; return them as they happened, the alias's version, the stack.

    A promote pushes the version it replaces (a promote to the version already
    held changes nothing); a rollback pops one. Each returned entry is
    ``{"version", "previous", "at", "action"}`` (plus the move's ``by`` and ``note``
    where recorded) with ``previous`` and, for a rollback, ``version`` taken from the
    replay, so that concurrent writers that saw the same state still give one
    consistent chain. The first move's own
    ``previous`` is where the trail starts.
    """
    current: int | None = entries[0].get("previous") if entries else None
    stack: list[int | None] = []
    out: list[dict[str, Any]] = []
    for entry in entries:
        before = current
        if entry.get("action") == "promote":
            version = entry.get("version")
            if version != current:
                stack.append(current)
                current = version
        elif entry.get("action") == "rollback" and stack:
            current = stack.pop()
        moved: dict[str, Any] = {
            "version": current,
            "previous": before,
            "at": entry.get("at"),
            "action": entry["action"],
        }
        for extra in ("by", "note"):
            if isinstance(entry.get(extra), str):
                moved[extra] = entry[extra]
        out.append(moved)
    return out, current, stack


def expired(
    moves: list[tuple[str, dict[str, Any]]], limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """The moves beyond the last ``limit`` ones, oldest first (to delete)."""
    return moves[: max(0, len(moves) - limit)]


__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "HISTORY_TAG_PREFIX",
    "MAX_NOTE_CHARS",
    "MOVE_TAG_PREFIX",
    "dump",
    "expired",
    "history_tag",
    "move_of",
    "move_value",
    "new_move_key",
    "parse_history",
    "record",
    "replay",
    "rollback_target",
    "trail",
]
