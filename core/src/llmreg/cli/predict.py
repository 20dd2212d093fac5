"""``llmreg predict``: answer one text, or a JSON Lines file of rows, with a loaded model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Any

import click

from llmreg.cli.app import add_secrets, emit_json, json_option
from llmreg.cli.components import build_loader
from llmreg.cli.store import say_store, use_store
from llmreg.errors import ConfigError, ConfigFileNotFoundError, PredictionError, SchemaError

#: Rows handed to the model at once in ``--file`` mode; the progress bar moves per chunk.
CHUNK_ROWS_PER_SLOT = 4


@click.command()
@click.argument("model_uri")
@click.argument("text", required=False)
@click.option(
    "--file",
    "file",
    metavar="PROMPTS.jsonl",
    help="JSON Lines: each line a string or a row object with 'input' or 'messages'.",
)
@click.option("--output", "-o", metavar="PATH", help="Write the JSON Lines results here.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    help="Rows in flight at once; overrides the definition's concurrency.",
)
@json_option
def predict(
    model_uri: str,
    text: str | None,
    file: str | None,
    output: str | None,
    concurrency: int | None,
    as_json: bool,
) -> None:
    """Answer TEXT, or every row of --file, with the model at MODEL_URI.

    With --file, one result per line is written in input order (stdout, or
    --output). The exit code is 1 when any row failed.
    """
    if (text is None) == (file is None):
        raise click.UsageError("give either TEXT or --file PROMPTS.jsonl, not both or neither")
    rows = read_rows(file) if file is not None else [{"input": text}]
    from llmreg.schemas import Inputs

    inputs = Inputs.parse(rows)
    store = use_store()
    adapter = build_loader().load(model_uri)
    if adapter.definition is not None:
        add_secrets(adapter.definition.resolved_secrets())
    params: dict[str, Any] = {} if concurrency is None else {"concurrency": concurrency}
    if file is None:
        _answer_one(adapter.predict(inputs, params).rows[0].model_dump(mode="json"), as_json)
        say_store(None if as_json else store)
        return
    chunk = CHUNK_ROWS_PER_SLOT * (concurrency or _definition_concurrency(adapter))
    with _open_output(output) as out:
        failed = _answer_file(adapter, inputs, params, chunk, out)
    say_store(store)
    if failed:
        raise PredictionError(
            f"{failed} of {len(inputs.rows)} rows failed; each has status 'error' in the output"
        )


def read_rows(path: str) -> list[Any]:
    """Read a JSON Lines file of rows; blank lines are skipped.

    Raises:
        ConfigFileNotFoundError: the file does not exist.
        SchemaError: the file is not UTF-8, a line is not JSON, or there are no rows.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigFileNotFoundError(f"prompts file {path} does not exist: check the path")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"prompts file {path} is not UTF-8 text (byte {exc.start}): re-encode it as UTF-8"
        ) from None
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SchemaError(
                f"prompts file {path} line {number} is not JSON ({exc.msg}): write one JSON "
                'string or row object such as {"input": "..."} per line'
            ) from None
    if not rows:
        raise SchemaError(f"prompts file {path} has no rows: write one JSON row per line")
    return rows


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


def _answer_file(
    adapter: Any, inputs: Any, params: dict[str, Any], chunk: int, out: IO[str]
) -> int:
    from llmreg.schemas import Inputs

    rows = inputs.rows
    failed = 0
    with _progress(len(rows)) as bar:
        for start in range(0, len(rows), chunk):
            part = Inputs(rows=rows[start : start + chunk])
            for result in adapter.predict(part, params).rows:
                failed += 0 if result.ok else 1
                out.write(json.dumps(result.model_dump(mode="json"), sort_keys=True) + "\n")
            out.flush()
            bar.update(len(part.rows))
    return failed


def _progress(length: int) -> Any:
    """A progress bar on stderr when it is a terminal; otherwise one that draws nothing."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label="predict", file=sys.stderr, show_pos=True)
    return _NoBar()


class _NoBar:
    """Stands in for the progress bar when stderr is not a terminal."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, steps: int) -> None:
        """Do nothing."""


class _open_output:  # noqa: N801 - used like open()
    """Open ``--output`` for writing (atomically replaced at the end), or use stdout."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.tmp: Path | None = None
        self.handle: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.path is None:
            return sys.stdout
        target = Path(self.path)
        if not target.parent.is_dir():
            raise ConfigError(f"cannot write {self.path}: folder {target.parent} does not exist")
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        self.handle = self.tmp.open("w", encoding="utf-8")
        return self.handle

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self.handle is None or self.tmp is None or self.path is None:
            return
        self.handle.close()
        if exc_type is None:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)
