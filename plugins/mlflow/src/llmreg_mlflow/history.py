"""The audit trail of alias moves, kept as a bounded JSON list in a registered-model tag.

Each entry is ``{"version", "previous", "at", "action"}``: the version the alias
now points at, the one it pointed at before (or ``None``), the UTC time and
``"promote"`` or ``"rollback"``. A rollback undoes the latest promote that is
not undone yet, like a stack, so three rollbacks after three promotes walk back
three versions. Pure functions: nothing here talks to MLflow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from llmreg.errors import RegistrationError

#: The registered-model tag that holds the history of alias ``<alias>``.
HISTORY_TAG_PREFIX = "llmreg.alias_history."
#: How many moves the tag keeps by default; older ones are dropped.
DEFAULT_HISTORY_LIMIT = 50


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
) -> list[dict[str, Any]]:
    """Return ``entries`` with one move appended, keeping the last ``limit`` moves."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    entry = {
        "version": version,
        "previous": previous,
        "at": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "action": action,
    }
    return [*entries, entry][-limit:]


def rollback_target(entries: list[dict[str, Any]]) -> int | None:
    """Return the version a rollback goes back to, or ``None`` when there is none.

    Replays the moves as a stack: a promote pushes the version it replaced, a
    rollback pops one. The answer is the top of the stack.

    Example:
        >>> moves = [
        ...     {"action": "promote", "version": 1, "previous": None},
        ...     {"action": "promote", "version": 2, "previous": 1},
        ... ]
        >>> rollback_target(moves)
        1
    """
    stack: list[int | None] = []
    for entry in entries:
        if entry.get("action") == "promote":
            stack.append(entry.get("previous"))
        elif entry.get("action") == "rollback" and stack:
            stack.pop()
    return stack[-1] if stack else None


def dump(entries: list[dict[str, Any]]) -> str:
    """Return the compact JSON text stored in the tag."""
    return json.dumps(entries, separators=(",", ":"))


__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "HISTORY_TAG_PREFIX",
    "dump",
    "history_tag",
    "parse_history",
    "record",
    "rollback_target",
]
