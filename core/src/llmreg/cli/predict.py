"""``llmreg predict``: answer one text, or a JSON Lines file of rows, with a loaded model.

With ``--file`` and ``--output PATH``, answers are written as they come, in input
order, to ``PATH.partial``; the file becomes ``PATH`` when every row is answered.
Interrupted (Ctrl-C) or failed, the answered rows stay in ``PATH.partial`` and the
error says so; ``--resume`` keeps them and answers the rest.

With ``--spark [MASTER]``, the loader runs the job on Spark (a loader that declares
:class:`~llmreg.capabilities.SparkPredictor`: llmreg-pyfunc's); the core never imports pyspark.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from llmreg.cli.app import add_secrets, emit_json, json_option
from llmreg.cli.components import build_loader
from llmreg.cli.store import naming_store, say_store, use_store
from llmreg.errors import (
    ConfigError,
    ConfigFileNotFoundError,
    LlmregError,
    PredictionError,
    PredictionInterruptedError,
    SchemaError,
)

#: The environment switch a loader's tracing reads (llmreg-pyfunc's); set by ``--trace``.
TRACING_ENV = "LLMREG_TRACING"

#: ``--trace/--no-trace`` of ``predict`` and ``serve``.
trace_option = click.option(
    "--trace/--no-trace",
    "trace",
    default=None,
    help="Record (or not) a trace of every prediction, whatever the definition and "
    "LLMREG_TRACING say; the default follows them (and MLflow's settings).",
)


def apply_trace(trace: bool | None) -> None:
    """Set ``LLMREG_TRACING`` for this process and its workers, when ``--trace`` or
    ``--no-trace`` was given (the loader reads it at every prediction)."""
    if trace is not None:
        os.environ[TRACING_ENV] = "1" if trace else "0"


#: Rows handed to the model at once in ``--file`` mode; answers are written per chunk.
CHUNK_ROWS_PER_SLOT = 4
#: The suffix of the file that holds the answers while they come.
PARTIAL_SUFFIX = ".partial"
#: At most this many bad lines are described in one error; the rest are counted.
MAX_BAD_LINES = 10


@dataclass(frozen=True)
class Row:
    """One row of a prompts file: its line number, its ``id`` (if any) and the row itself."""

    line: int
    id: str | int | None
    data: Any


@click.command()
@click.argument("model_uri")
@click.argument("text", required=False)
@click.option(
    "--file",
    "file",
    metavar="PROMPTS.jsonl",
    help="JSON Lines: each line a string or a row object with 'input' or 'messages' "
    "(and an optional 'id', echoed in its result).",
)
@click.option(
    "--output",
    "-o",
    metavar="PATH",
    help="Write the JSON Lines results here (PATH.partial while they come).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Keep the rows an earlier run answered in PATH.partial and answer the rest.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    help="Rows in flight at once; overrides the definition's concurrency.",
)
@click.option(
    "--spark",
    "spark_master",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[MASTER]",
    help="Run the --file job on Spark (MASTER such as local[4] or yarn; spark-submit's when "
    "omitted); --file may be Parquet, --output is a Spark output folder (.parquet: Parquet).",
)
@trace_option
@json_option
def predict(
    model_uri: str,
    text: str | None,
    file: str | None,
    output: str | None,
    resume: bool,
    concurrency: int | None,
    spark_master: str | None,
    trace: bool | None,
    as_json: bool,
) -> None:
    """Answer TEXT, or every row of --file, with the model at MODEL_URI.

    With --file, one result per line is written in input order (stdout, or
    --output). The exit code is 1 when any row failed.
    """
    if (text is None) == (file is None):
        raise click.UsageError("give either TEXT or --file PROMPTS.jsonl, not both or neither")
    if resume and output is None:
        raise click.UsageError("--resume needs --output PATH (it continues PATH.partial)")
    apply_trace(trace)
    if spark_master is not None:
        if file is None or resume:
            raise click.UsageError("--spark needs --file PROMPTS and cannot --resume")
        _spark_job(model_uri, file, output, spark_master or None, concurrency)
        return
    target = check_output(output, resume) if output is not None else None
    rows = read_rows(file) if file is not None else [Row(0, None, {"input": text})]
    inputs = parse_rows(rows, file)
    store = use_store()
    with naming_store(store):
        adapter = build_loader().load(model_uri)
    if adapter.definition is not None:
        add_secrets(adapter.definition.resolved_secrets())
    params: dict[str, Any] = {} if concurrency is None else {"concurrency": concurrency}
    if file is None:
        _answer_one(adapter.predict(inputs, params).rows[0].model_dump(mode="json"), as_json)
        say_store(None if as_json else store)
        return
    chunk = CHUNK_ROWS_PER_SLOT * (concurrency or _definition_concurrency(adapter))
    job = _Job(adapter, inputs, rows, params, chunk)
    failed = job.to_file(target, resume) if target is not None else job.to_stdout()
    say_store(store)
    if failed:
        where = f" ({target})" if target is not None else ""
        raise PredictionError(
            f"{failed} of {len(rows)} rows failed; each has status 'error' in the output{where}"
        )


def _spark_job(
    model_uri: str, file: str, output: str | None, master: str | None, concurrency: int | None
) -> None:
    """Hand the job to the loader's ``spark_predict``; print or count its results."""
    store = use_store()
    loader = build_loader()
    from llmreg.capabilities import SparkPredictor, require

    spark = require(loader, SparkPredictor, "loader")  # CapabilityMissingError names the KIND
    with naming_store(store):
        job = spark.spark_predict(model_uri, file, output, master=master, concurrency=concurrency)
    for record in job.records or ():
        click.echo(json.dumps(record, sort_keys=True))
    say_store(store)
    if job.failed:
        where = f" ({output})" if output is not None else ""
        raise PredictionError(
            f"{job.failed} of {job.total} rows failed; each has status 'error' in the output{where}"
        )


# --- the prompts file ------------------------------------------------------------------


def read_rows(path: str) -> list[Row]:
    """Read a JSON Lines file of rows; blank lines are skipped.

    Lines are split on ``\\n`` only (``\\r\\n`` too), never inside a JSON string, so
    U+2028, U+2029 and U+0085 may appear in the text. A row object may carry an
    ``id`` (a string or an integer), which its result echoes.

    Raises:
        ConfigFileNotFoundError: the file does not exist.
        ConfigError: the path is a folder.
        SchemaError: the file is not UTF-8, a line is not JSON (or nested too deeply),
            an ``id`` is not a string or integer, or there are no rows; the line is named.
    """
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"prompts file {path} is a folder: give a JSON Lines file")
    if not file.is_file():
        raise ConfigFileNotFoundError(f"prompts file {path} does not exist: check the path")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"prompts file {path} is not UTF-8 text (byte {exc.start}): re-encode it as UTF-8"
        ) from None
    rows: list[Row] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip(" \t"):
            continue
        what = f"prompts file {path} line {number}"
        rows.append(Row(number, *_split_id(_parse_line(line, what), what)))
    if not rows:
        raise SchemaError(f"prompts file {path} has no rows: write one JSON row per line")
    return rows


def _parse_line(line: str, what: str) -> Any:
    from llmreg.definition import MAX_JSON_DEPTH, json_depth

    hint = 'write one JSON string or row object such as {"input": "..."} per line'
    if json_depth(line) > MAX_JSON_DEPTH:
        raise SchemaError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep: {hint}")
    try:
        return json.loads(line, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{what} is not JSON ({exc.msg}, column {exc.colno}): {hint}") from None
    except (ValueError, RecursionError) as exc:
        raise SchemaError(f"{what} is not JSON ({exc}): {hint}") from None


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _split_id(data: Any, what: str) -> tuple[str | int | None, Any]:
    if not isinstance(data, dict) or "id" not in data:
        return None, data
    data = dict(data)
    row_id = data.pop("id")
    if isinstance(row_id, bool) or not isinstance(row_id, str | int):
        raise SchemaError(f"{what}: 'id' must be a string or an integer, not {row_id!r:.60}")
    return row_id, data


def parse_rows(rows: list[Row], path: str | None) -> Any:
    """Validate every row into :class:`~llmreg.schemas.Inputs`; errors name the file line.

    Raises:
        SchemaError: the first :data:`MAX_BAD_LINES` bad lines, and how many more.
    """
    from pydantic import ValidationError

    from llmreg.schemas import Inputs, Request, describe_problems

    if path is None:
        return Inputs.parse([row.data for row in rows])
    good: list[Request] = []
    bad: list[str] = []
    for row in rows:
        data = {"input": row.data} if isinstance(row.data, str) else row.data
        try:
            if not isinstance(data, dict):
                raise SchemaError(f"a row is a string or an object, not {type(data).__name__}")
            good.append(Request.model_validate(data))
        except ValidationError as exc:
            bad.append(f"line {row.line}: {describe_problems(exc)}")
        except (SchemaError, RecursionError) as exc:
            bad.append(f"line {row.line}: {exc if isinstance(exc, SchemaError) else 'too deep'}")
    if bad:
        more = len(bad) - MAX_BAD_LINES
        listed = "; ".join(bad[:MAX_BAD_LINES]) + (f"; and {more} more lines" if more > 0 else "")
        raise SchemaError(
            f"prompts file {path} has {len(bad)} invalid row{'s' if len(bad) > 1 else ''}: "
            f"{listed}. Write rows with a text 'input' or chat 'messages' (each with a 'role' "
            "and 'content')."
        )
    return Inputs(rows=good)


# --- the output --------------------------------------------------------------------------


def partial_path(target: Path) -> Path:
    """Where the answers go while they come: ``PATH.partial``."""
    return target.with_name(target.name + PARTIAL_SUFFIX)


def check_output(output: str, resume: bool) -> Path:
    """Check ``--output`` before any row is sent (each row sent is paid for).

    Raises:
        ConfigError: the path is a folder, its folder does not exist, it cannot be
            written, or ``PATH.partial`` holds an earlier run's answers and
            ``--resume`` was not given (they are never overwritten).
    """
    target = Path(output)
    if target.is_dir() or not target.name:
        raise ConfigError(f"cannot write {output}: it is a folder; give a file path for --output")
    partial = partial_path(target)
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {output}: folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {output}: folder {target.parent} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(f"cannot write {output}: the file is not writable")
    if partial.is_dir():
        raise ConfigError(f"cannot write {partial}: it is a folder")
    if partial.exists() and not resume:
        raise ConfigError(
            f"{partial} holds answers of an earlier run: add --resume to keep them and answer "
            "the rest, or delete it to start over"
        )
    if resume and not partial.exists():
        raise ConfigError(f"nothing to resume: {partial} does not exist")
    return target


def _definition_concurrency(adapter: Any) -> int:
    definition = adapter.definition
    return int(definition.concurrency) if definition is not None else 8


def _answer_one(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(row)
    elif row["prediction"] is not None:
        click.echo(row["prediction"])
    if row["metadata"].get("status", "ok") != "ok":
        raise PredictionError(str(row["metadata"].get("error") or "the row failed"))


class _Job:
    """The rows of a prompts file, answered chunk by chunk and written in input order."""

    def __init__(
        self, adapter: Any, inputs: Any, rows: list[Row], params: dict[str, Any], chunk: int
    ) -> None:
        self.adapter = adapter
        self.requests = list(inputs.rows)
        self.rows = rows
        self.params = params
        self.chunk = chunk
        self.failed = 0

    def _lines(self, start: int) -> Any:
        """Yield ``(count, text)`` per chunk from row ``start``: the JSON lines to write."""
        from llmreg.schemas import Inputs

        for first in range(start, len(self.requests), self.chunk):
            part = self.requests[first : first + self.chunk]
            results = self.adapter.predict(Inputs(rows=part), self.params).rows
            lines = []
            for row, result in zip(self.rows[first : first + len(part)], results, strict=True):
                self.failed += 0 if result.ok else 1
                record = result.model_dump(mode="json")
                if row.id is not None:
                    record = {"id": row.id, **record}
                lines.append(json.dumps(record, sort_keys=True) + "\n")
            yield len(part), "".join(lines)

    def to_stdout(self) -> int:
        """Answer every row onto stdout; return how many failed."""
        written = 0
        try:
            with _progress(len(self.requests)) as bar:
                for count, text in self._lines(0):
                    sys.stdout.write(text)
                    sys.stdout.flush()
                    written += count
                    bar.update(count)
        except KeyboardInterrupt:
            raise PredictionInterruptedError(
                f"interrupted: {written} of {len(self.requests)} rows were answered and written "
                "above; use --output PATH to keep answers in a file that --resume continues"
            ) from None
        return self.failed

    def to_file(self, target: Path, resume: bool) -> int:
        """Answer the rows into ``PATH.partial``, then rename it to ``PATH``.

        Returns how many rows failed (those kept from an earlier run included).
        """
        partial = partial_path(target)
        done = self._resume(partial) if resume else 0
        written = done
        handle: IO[str] = partial.open("a" if resume else "w", encoding="utf-8")
        try:
            with _progress(len(self.requests)) as bar:
                bar.update(done)
                for count, text in self._lines(done):
                    handle.write(text)
                    handle.flush()
                    written += count
                    bar.update(count)
        except KeyboardInterrupt:
            handle.close()
            raise self._stopped("interrupted", written, partial, resume) from None
        except (LlmregError, OSError) as exc:
            handle.close()
            note = self._stopped(f"stopped by {type(exc).__name__}", written, partial, resume)
            if isinstance(exc, LlmregError) and exc.args and isinstance(exc.args[0], str):
                exc.args = (f"{exc.args[0]} [{note}]", *exc.args[1:])
                raise
            raise note from exc
        handle.close()
        partial.replace(target)
        return self.failed

    def _stopped(
        self, why: str, written: int, partial: Path, resume: bool
    ) -> PredictionInterruptedError:
        total = len(self.requests)
        if not written and not resume:
            partial.unlink(missing_ok=True)  # nothing to keep
            return PredictionInterruptedError(f"{why}: 0 of {total} rows answered; nothing kept")
        return PredictionInterruptedError(
            f"{why}: {written} of {total} rows answered; the {written} rows answered are kept "
            f"in {partial}; run the same command with --resume to answer the rest"
        )

    def _resume(self, partial: Path) -> int:
        """Keep the leading complete rows of ``partial``; return how many.

        A last line cut short (the run stopped while writing it) is dropped, and the
        file is cut back to the rows kept.

        Raises:
            ConfigError: the kept rows do not match the prompts file (more rows, or
                another ``id`` at the same place).
        """
        text = partial.read_text(encoding="utf-8", errors="replace")
        kept: list[str] = []
        for line in text.split("\n"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if not isinstance(record, dict) or "prediction" not in record:
                break
            kept.append(line)
            index = len(kept) - 1
            if index >= len(self.rows) or record.get("id") != self.rows[index].id:
                raise ConfigError(
                    f"{partial} does not match the prompts file at row {index + 1} (its id "
                    f"{record.get('id')!r:.60}): resume with the same prompts file, or delete "
                    f"{partial} to start over"
                )
            if record.get("metadata", {}).get("status", "ok") != "ok":
                self.failed += 1
        body = "".join(line + "\n" for line in kept)
        if body != text:
            partial.write_text(body, encoding="utf-8")
        return len(kept)


#: Seconds between two progress lines when stderr is not a terminal (a CI log).
PROGRESS_EVERY_S = 10.0


def _progress(length: int) -> Any:
    """A progress bar on stderr when it is a terminal; otherwise a line every
    :data:`PROGRESS_EVERY_S` seconds (none for a run shorter than that)."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label="predict", file=sys.stderr, show_pos=True)
    return _LineBar(length)


class _LineBar:
    """Stands in for the progress bar when stderr is not a terminal: periodic lines."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.done = 0
        self.last = time.monotonic()

    def __enter__(self) -> _LineBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, steps: int) -> None:
        """Count ``steps`` rows; print ``predict: N/M rows`` when the period has passed."""
        self.done += steps
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            click.echo(f"predict: {self.done}/{self.length} rows", err=True)
