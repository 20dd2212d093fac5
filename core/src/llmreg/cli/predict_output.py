"""The output file of ``llmreg predict --file --output PATH``, and what ``--resume`` keeps.

Answers are appended to ``PATH.partial`` as they come; each line records the row it
answers (``row``, counted from 1) and a hash of that row (``input_hash``), so
``--resume`` attaches every kept answer to its own prompt: by ``id`` where the
prompts file's ids are unique, otherwise by ``row``, and in both cases only if the
hash still matches (else it refuses, naming the first row that differs). Rows that
failed are asked again on resume, also when the earlier run finished (``PATH``
exists and no ``PATH.partial``). When every row is answered, the lines are put in
input order in ``PATH`` and ``PATH.partial`` goes away.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from llmreg.errors import ConfigError, LlmregError, PredictionInterruptedError
from llmreg.files import check_write_target, open_for_write

#: The suffix of the file that holds the answers while they come.
PARTIAL_SUFFIX = ".partial"


class RowLike(Protocol):
    """A row of the prompts file, as :class:`llmreg.cli.predict.Row`."""

    @property
    def line(self) -> int:
        """Its line number in the prompts file."""

    @property
    def id(self) -> str | int | None:
        """Its ``id``, if it has one."""

    @property
    def data(self) -> Any:
        """The row without its ``id``."""


class Bar(Protocol):
    """A progress bar: counts rows."""

    def update(self, steps: int) -> None:
        """Count ``steps`` more rows."""


def partial_path(target: Path) -> Path:
    """Where the answers go while they come: ``PATH.partial``."""
    return target.with_name(target.name + PARTIAL_SUFFIX)


def check_output(output: str, resume: bool) -> Path:
    """Check ``--output`` before any row is sent (each row sent is paid for).

    Raises:
        ConfigError: ``PATH`` or ``PATH.partial`` exists and is not a regular file (a
            folder, symbolic link, FIFO, device or socket: never replaced), its
            folder does not exist or cannot be written, or ``PATH.partial`` holds an
            earlier run's answers and ``--resume`` was not given (never overwritten).
    """
    target = Path(output)
    if not target.name:
        raise ConfigError(f"cannot write {output}: it is a folder; give a file path for --output")
    partial = partial_path(target)
    check_write_target(target)
    check_write_target(partial)
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {output}: folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {output}: folder {target.parent} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"cannot write {output}: the file is not writable")
    if partial.exists() and not resume:
        raise ConfigError(
            f"{partial} holds answers of an earlier run: add --resume to keep them and answer "
            "the rest, or delete it to start over"
        )
    if resume and not partial.exists() and not target.exists():
        raise ConfigError(f"nothing to resume: neither {partial} nor {output} exists")
    return target


def row_hash(row: RowLike) -> str:
    """A short hash of a row (its ``id`` and content), as recorded in ``input_hash``."""
    text = json.dumps([row.id, row.data], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def record_line(index: int, row: RowLike, result: dict[str, Any]) -> str:
    """The output line of row ``index`` (from 0): its result, ``id``, ``row`` and ``input_hash``."""
    record = {**result, "row": index + 1, "input_hash": row_hash(row)}
    if row.id is not None:
        record["id"] = row.id
    return json.dumps(record, sort_keys=True) + "\n"


@dataclass
class Kept:
    """The complete answers in ``PATH.partial``, each attached to its row (0-based)."""

    lines: dict[int, str] = field(default_factory=dict)
    ok: set[int] = field(default_factory=set)
    in_order: bool = True
    size: int = 0


def read_kept(partial: Path, rows: list[Any]) -> Kept:
    """Read the complete answer lines of ``partial``, each matched to its row of ``rows``.

    A line cut short (the run stopped while writing it), and any line after it, is
    not kept; where a row was answered twice, the later answer counts.

    Raises:
        ConfigError: an answer does not belong to the prompts file as it is now (its
            id is missing, its row is beyond the end, or its row changed since).
    """
    ids = Counter(row.id for row in rows if row.id is not None)
    by_id = {row.id: index for index, row in enumerate(rows) if ids.get(row.id) == 1}
    kept = Kept()
    for number, raw in enumerate(partial.read_bytes().split(b"\n")[:-1], start=1):
        try:
            record = json.loads(raw.decode("utf-8"))
        except ValueError:
            break
        if not isinstance(record, dict) or not {"prediction", "metadata"} <= record.keys():
            break
        index = _match(record, number, rows, by_id, partial)
        line = raw.decode("utf-8") + "\n"
        current = {"row": index + 1, "input_hash": row_hash(rows[index])}
        if {key: record.get(key) for key in current} != current:
            line = json.dumps({**record, **current}, sort_keys=True) + "\n"  # matched by id
            kept.in_order = False  # so PATH is rewritten with the row numbers of now
        kept.in_order = kept.in_order and index == number - 1
        kept.lines[index] = line
        meta = record["metadata"]
        ok = isinstance(meta, dict) and meta.get("status", "ok") == "ok"
        (kept.ok.add if ok else kept.ok.discard)(index)
        kept.size += len(raw) + 1
    return kept


def _match(
    record: dict[str, Any], number: int, rows: list[Any], by_id: dict[Any, int], partial: Path
) -> int:
    """The row (0-based) that answer ``number`` of ``partial`` belongs to; checked by hash."""
    row_id = record.get("id")
    position = record.get("row", number)
    if row_id is not None and (isinstance(row_id, bool) or not isinstance(row_id, str | int)):
        raise _mismatch(partial, number, f"its id {row_id!r:.60} is not a string or an integer")
    if row_id is not None and row_id in by_id:
        index = by_id[row_id]
    elif isinstance(position, int) and not isinstance(position, bool) and position >= 1:
        index = position - 1
    else:
        raise _mismatch(partial, number, f"it names no row ({position!r:.40})")
    if index >= len(rows):
        raise _mismatch(partial, number, f"row {index + 1} is beyond the prompts file's end")
    row = rows[index]
    if row.id != row_id:
        raise _mismatch(partial, number, f"its id {row_id!r:.60} is not the id of row {index + 1}")
    digest = record.get("input_hash")
    if digest != row_hash(row) and not (digest is None and row_id in by_id):
        raise _mismatch(
            partial,
            number,
            f"it answers another prompt than row {index + 1} (prompts file line {row.line}) "
            "has now",
        )
    return index


def _mismatch(partial: Path, number: int, why: str) -> ConfigError:
    return ConfigError(
        f"{partial} does not match the prompts file at answer {number}: {why}. Resume with "
        f"the prompts file the answers were made from, or delete {partial} to start over"
    )


class OutputFile:
    """Where ``predict --file --output PATH`` writes, and which rows are still to ask."""

    def __init__(self, target: Path, rows: list[Any], resume: bool) -> None:
        """Plan the output; on ``resume``, check and keep the earlier answers.

        Nothing is written here; the check happens before any row is sent.

        Raises:
            ConfigError: the kept answers do not match the prompts file (see
                :func:`read_kept`); ``PATH.partial`` is left as it was.
        """
        self.target = target
        self.partial = partial_path(target)
        self.rows = rows
        self.resume = resume
        #: What resume keeps: ``PATH.partial``, or ``PATH`` of a run that finished.
        self.source = self.partial if not resume or self.partial.exists() else target
        self.kept = read_kept(self.source, rows) if resume else Kept()
        #: The rows to ask: those with no answer kept, and those that failed.
        self.todo = [index for index in range(len(rows)) if index not in self.kept.ok]
        first_new = len(self.kept.lines)
        self.in_order = self.kept.in_order and self.todo == list(range(first_new, len(rows)))

    def write(self, chunks: Iterable[tuple[int, str]], bar: Bar) -> None:
        """Append each ``(count, text)`` chunk to ``PATH.partial``, then finish ``PATH``.

        Raises:
            PredictionInterruptedError: Ctrl-C, a failed write (a full disk) or a
                typed error stopped the run; the message says how many rows are kept
                in ``PATH.partial`` and to run again with ``--resume``.
        """
        if self.source != self.partial:
            os.replace(self.target, self.partial)  # its failed rows are asked again there
        if self.resume:
            # the cut-short tail goes; truncating needs no space, so a full disk loses nothing
            os.truncate(self.partial, self.kept.size)
        written = len(self.kept.ok)
        bar.update(written)
        handle = open_for_write(self.partial, append=self.resume)
        try:
            for count, text in chunks:
                handle.write(text)
                handle.flush()
                written += count
                bar.update(count)
            handle.close()
        except KeyboardInterrupt:
            raise self._stopped("interrupted", written) from None
        except OSError as exc:
            why = f"stopped: writing {self.partial} failed ({exc.strerror or exc})"
            raise self._stopped(why, written) from None
        except LlmregError as exc:
            note = self._stopped(f"stopped by {type(exc).__name__}", written)
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (f"{exc.args[0]} [{note}]", *exc.args[1:])
                raise
            raise note from exc
        finally:
            with contextlib.suppress(OSError):  # a full disk fails the close's flush again
                handle.close()
        self._finish()

    def _finish(self) -> None:
        """Make ``PATH`` from ``PATH.partial``: renamed, or rewritten in input order."""
        total = len(self.rows)
        try:
            check_write_target(self.target)  # again: it may have changed while rows came
            if self.in_order:
                self.partial.replace(self.target)
                return
            kept = read_kept(self.partial, self.rows)
            fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.")
            try:
                with open(fd, "w", encoding="utf-8") as handle:
                    handle.writelines(kept.lines[index] for index in range(total))
                os.replace(name, self.target)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
            self.partial.unlink()
        except KeyboardInterrupt:
            raise self._stopped("interrupted", total) from None
        except (OSError, ConfigError) as exc:
            shown = exc if isinstance(exc, ConfigError) else exc.strerror or exc
            why = f"stopped: writing {self.target} failed ({shown})"
            raise self._stopped(why, total) from None

    def _stopped(self, why: str, written: int) -> PredictionInterruptedError:
        total = len(self.rows)
        if not written and not self.resume:
            self.partial.unlink(missing_ok=True)  # nothing to keep
            return PredictionInterruptedError(f"{why}: 0 of {total} rows answered; nothing kept")
        return PredictionInterruptedError(
            f"{why}: {written} of {total} rows answered; the {written} rows answered are kept "
            f"in {self.partial}; run the same command with --resume to answer the rest"
        )


__all__ = [
    "PARTIAL_SUFFIX",
    "Kept",
    "OutputFile",
    "check_output",
    "partial_path",
    "read_kept",
    "record_line",
    "row_hash",
]
