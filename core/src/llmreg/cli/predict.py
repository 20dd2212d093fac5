"""``llmreg predict``: answer one text, or a JSON Lines file of rows, with a loaded model.

With ``--file`` and ``--output PATH``, answers are written as they come, in input
order, to ``PATH.partial``; the file becomes ``PATH`` when every row is answered.
Interrupted (Ctrl-C) or failed, the answered rows stay in ``PATH.partial`` and the
error says so; ``--resume`` keeps them and answers the rest, and the rows that failed
(see :mod:`llmreg.cli.predict_output`).

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
from typing import Any

import click

from llmreg.cli.app import add_secrets, emit_json, json_option
from llmreg.cli.components import build_loader
from llmreg.cli.predict_output import OutputFile, check_output, record_line
from llmreg.cli.store import naming_store, say_store, use_store
from llmreg.errors import PredictionError, PredictionInterruptedError, SchemaError
from llmreg.files import check_input_file, check_write_target

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
    help="Keep the rows an earlier run answered in PATH.partial and answer the rest "
    "(and the rows that failed).",
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
    out = OutputFile(target, rows, resume) if target is not None else None
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
    failed = job.to_file(out) if out is not None else job.to_stdout()
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
    if output is not None:
        check_write_target(Path(output))  # a Spark output folder is new: never a link to follow
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
        ConfigError: the path is a folder, a FIFO, a device or a socket (not a regular file).
        SchemaError: the file is not UTF-8, a line is not JSON (or nested too deeply),
            an ``id`` is not a string or integer, or there are no rows; the line is named.
    """
    file = check_input_file(path, "prompts file", "a JSON Lines file")
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
    from llmreg.jsonio import InvalidJSONError, loads

    try:
        return loads(line, what)
    except InvalidJSONError as exc:
        hint = 'write one JSON string or row object such as {"input": "..."} per line'
        raise SchemaError(f"{exc}: {hint}") from None


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


# --- the answers ----------------------------------------------------------------------


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

    def _lines(self, todo: list[int], keyed: bool) -> Any:
        """Yield ``(count, text)`` per chunk of the rows ``todo``: the JSON lines to write.

        ``keyed`` lines also carry ``row`` and ``input_hash`` (what ``--resume`` checks).
        """
        from llmreg.schemas import Inputs

        for first in range(0, len(todo), self.chunk):
            part = todo[first : first + self.chunk]
            asked = Inputs(rows=[self.requests[index] for index in part])
            results = self.adapter.predict(asked, self.params).rows
            lines = []
            for index, result in zip(part, results, strict=True):
                self.failed += 0 if result.ok else 1
                row, record = self.rows[index], result.model_dump(mode="json")
                if keyed:
                    lines.append(record_line(index, row, record))
                    continue
                if row.id is not None:
                    record = {"id": row.id, **record}
                lines.append(json.dumps(record, sort_keys=True) + "\n")
            yield len(part), "".join(lines)

    def to_stdout(self) -> int:
        """Answer every row onto stdout; return how many failed."""
        written = 0
        try:
            with _progress(len(self.requests)) as bar:
                for count, text in self._lines(list(range(len(self.requests))), keyed=False):
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

    def to_file(self, out: OutputFile) -> int:
        """Answer the rows ``out`` still needs into ``PATH.partial``, then make ``PATH``.

        Returns how many rows failed (rows kept from an earlier run were answered).
        """
        with _progress(len(self.requests)) as bar:
            out.write(self._lines(out.todo, keyed=True), bar)
        return self.failed


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
