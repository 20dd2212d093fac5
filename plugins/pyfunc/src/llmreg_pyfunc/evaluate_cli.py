"""``llmreg evaluate``: score a model on a dataset with scorers, before promoting it.

llmreg-pyfunc adds the command to the CLI (``llmreg_register_commands``).

Each line of the dataset is a row (``input`` or ``messages``, optional ``vars``)
with the ``expected`` answer. Scorers (``--scorer``, repeatable):

- ``exact_match``: the answer equals ``expected`` (surrounding whitespace ignored);
- ``contains``: ``expected`` occurs in the answer;
- ``regex:PATTERN``: the answer matches ``PATTERN`` (``re.search``), reported as ``regex``;
- ``json_valid``: the answer parses as JSON;
- any other ``PREFIX:NAME`` (``mlflow:Correctness``, ``mlflow:Guidelines(guidelines="...")``,
  ``my_scorers:tone``): a scorer the loader runs (llmreg-pyfunc: an ``mlflow.genai``
  scorer or judge, through MLflow's API; ``--judge-model`` is the judge's model
  where the spec names none). The loader builds them before any prediction.

A failed row scores 0 on every scorer. The metrics (the mean of each scorer) are
printed as a table, kept on the registered version as tags ``llmreg.eval.<metric>``
(when the URI names a registered version and the register can tag versions), and
handed to the loader's ``log_evaluation`` when it has one (llmreg-pyfunc logs an
MLflow evaluation run linked to the model), with what each row was asked, answered
and scored (:func:`row_results`, secrets masked; llmreg-pyfunc logs each row as a
trace of that run whose assessments hold the scores, as ``mlflow.genai.evaluate``
does). ``llmreg promote --require`` reads those tags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import click

from llmreg.capabilities import EvaluationLogger, ScorerSource, require
from llmreg.cli.app import emit_json, json_option
from llmreg.cli.components import build_alias_register, build_loader
from llmreg.cli.gate import EVAL_TAG_PREFIX
from llmreg.cli.store import naming_store, say_store, shown_store, use_store
from llmreg.errors import CapabilityMissingError, ConfigError
from llmreg.files import check_input_file
from llmreg.secrets import SECRETS, redact_deep

#: At most this many rows in one dataset.
MAX_EVAL_ROWS = 10_000

Scorer = Callable[[str, str], float]


def _exact(answer: str, expected: str) -> float:
    return float(answer.strip() == expected.strip())


def _contains(answer: str, expected: str) -> float:
    return float(expected in answer)


def _json_valid(answer: str, expected: str) -> float:
    try:
        json.loads(answer)
    except ValueError:
        return 0.0
    return 1.0


def scorer(spec: str) -> tuple[str, Scorer]:
    """Return ``(metric name, function)`` for a ``--scorer`` value.

    Raises:
        ConfigError: an unknown scorer or a bad pattern.
    """
    named: dict[str, Scorer] = {
        "exact_match": _exact,
        "contains": _contains,
        "json_valid": _json_valid,
    }
    if spec in named:
        return spec, named[spec]
    if spec.startswith("regex:"):
        try:
            pattern = re.compile(spec[len("regex:") :])
        except re.error as exc:
            raise ConfigError(f"--scorer {spec!r}: bad pattern ({exc})") from None
        return "regex", lambda answer, _expected: float(pattern.search(answer) is not None)
    raise ConfigError(
        f"unknown scorer {spec!r}: use exact_match, contains, regex:PATTERN, json_valid, "
        "mlflow:NAME (an MLflow scorer or judge) or module:function (a scorer of yours)"
    )


def is_plugin_scorer(spec: str) -> bool:
    """Whether ``--scorer spec`` names a scorer the loader runs (``PREFIX:NAME``, not ``regex:``).

    Example:
        >>> is_plugin_scorer("mlflow:Correctness"), is_plugin_scorer("regex:^a")
        (True, False)
    """
    head, colon, _ = spec.partition(":")
    return bool(colon) and head != "regex" and bool(head.strip())


def plugin_scorers(loader: Any, specs: list[str], judge_model: str | None) -> Any:
    """The runner of the scorers the loader provides (:class:`~llmreg.capabilities.ScorerSource`),
    or ``None`` when no spec needs one.

    Raises:
        CapabilityMissingError: a spec names a loader scorer and the loader runs none.
        ConfigError: the loader refuses a spec.
    """
    if not specs:
        return None
    try:
        source = require(loader, ScorerSource, "loader")
    except CapabilityMissingError as exc:
        raise CapabilityMissingError(
            f"--scorer {specs[0]!r}: {exc}; or use exact_match, contains, regex:PATTERN or "
            "json_valid"
        ) from None
    return source.genai_scorers(specs, judge_model)


def summarize(scores: dict[str, list[float | None]]) -> dict[str, float]:
    """The mean of each metric over the rows it scored; ``<metric>_errors`` counts the rest.

    Example:
        >>> summarize({"correctness": [1.0, 0.0, None]})
        {'correctness': 0.5, 'correctness_errors': 1.0}
    """
    out: dict[str, float] = {}
    for metric, values in scores.items():
        numbers = [v for v in values if v is not None]
        out[metric] = round(sum(numbers) / len(numbers), 4) if numbers else 0.0
        if len(numbers) < len(values):
            out[f"{metric}_errors"] = float(len(values) - len(numbers))
    return out


def row_results(
    rows: list[tuple[dict[str, Any], str]],
    outcomes: list[Any],
    chosen: list[tuple[str, str, Scorer]],
    scores: dict[str, list[float]],
    external: Any,
    judged: dict[str, list[float | None]],
) -> list[dict[str, Any]]:
    """What each row was asked, answered and scored, for the loader's ``log_evaluation``
    (``results=``; llmreg-pyfunc logs each row as a trace of the evaluation run with one
    MLflow assessment per scorer).

    Each row is ``{"inputs": row, "outputs": answer or None, "expected": expected,
    "error": error or None, "feedback": [...]}``; a feedback is ``{"name", "value",
    "rationale", "source_type" ("CODE" or "LLM_JUDGE"), "source_id"}`` (and ``"error"``
    where the scorer failed). The built-in scorers' values are ``True``/``False``; the
    loader's scorers give what they said per row (``external.feedback``), else the numbers.
    """
    kept = getattr(external, "feedback", None)
    if not isinstance(kept, list) or len(kept) != len(rows):
        kept = None
    out: list[dict[str, Any]] = []
    for index, ((row, expected), outcome) in enumerate(zip(rows, outcomes, strict=True)):
        answer = outcome.prediction
        error = None if answer is not None else str(outcome.metadata.get("error") or "failed")
        feedback: list[dict[str, Any]] = []
        for spec, metric, _ in chosen:
            feedback.append(
                {
                    "name": metric,
                    "value": bool(scores[metric][index]),
                    "rationale": None if answer is not None else f"the row failed: {error}",
                    "source_type": "CODE",
                    "source_id": spec,
                }
            )
        if kept is not None:
            feedback.extend(kept[index])
        else:
            for metric, values in judged.items():
                said: dict[str, Any] = {"name": metric, "value": values[index]}
                if values[index] is None:
                    said["error"] = "the scorer failed on this row"
                feedback.append({**said, "source_type": "CODE", "source_id": metric})
        out.append(
            {
                "inputs": row,
                "outputs": answer,
                "expected": expected,
                "error": error,
                "feedback": feedback,
            }
        )
    return out


def read_dataset(path: str) -> list[tuple[dict[str, Any], str]]:
    """Return the rows of a JSON Lines dataset as ``(row, expected)``.

    Raises:
        ConfigError: the file is missing or not a regular file (a folder, a FIFO, a
            device), a line is not an object with ``expected``.
    """
    source = check_input_file(path, "--data file", "a JSON Lines file of rows")
    rows: list[tuple[dict[str, Any], str]] = []
    for number, line in enumerate(source.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path} line {number}: not JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("expected"), str):
            raise ConfigError(
                f"{path} line {number}: a row is an object with 'input' (or 'messages') and "
                "a string 'expected'"
            )
        expected = data.pop("expected")
        data.pop("id", None)
        rows.append((data, expected))
        if len(rows) > MAX_EVAL_ROWS:
            raise ConfigError(f"{path}: more than {MAX_EVAL_ROWS:,} rows")
    if not rows:
        raise ConfigError(f"{path}: no rows")
    return rows


@click.command()
@click.argument("model_uri")
@click.option("--data", "data", required=True, metavar="EVAL.jsonl", help="Rows with 'expected'.")
@click.option(
    "--scorer",
    "scorers",
    multiple=True,
    required=True,
    help="exact_match, contains, regex:PATTERN, json_valid, mlflow:NAME[(k=v,...)] (an MLflow "
    "scorer or judge) or module:function (repeatable).",
)
@click.option(
    "--judge-model",
    metavar="URI",
    help="The model of MLflow judges whose --scorer names none (e.g. openai:/gpt-4o-mini).",
)
@json_option
def evaluate(
    model_uri: str,
    data: str,
    scorers: tuple[str, ...],
    judge_model: str | None,
    as_json: bool,
) -> None:
    """Score the model at MODEL_URI on the rows of --data; keep the metrics on its version."""
    chosen = [(spec, *scorer(spec)) for spec in scorers if not is_plugin_scorer(spec)]
    rows = read_dataset(data)
    store = use_store()
    loader = build_loader()
    with naming_store(store):
        external = plugin_scorers(
            loader, [spec for spec in scorers if is_plugin_scorer(spec)], judge_model
        )
        adapter = loader.load(model_uri)
        try:
            outputs = adapter.predict([row for row, _ in rows])
        finally:
            adapter.close()
        answers = [r.prediction for r in outputs.rows]
        scores: dict[str, list[float]] = {metric: [] for _, metric, _ in chosen}
        for answer, (_, expected) in zip(answers, rows, strict=True):
            for _, metric, score in chosen:
                scores[metric].append(0.0 if answer is None else score(answer, expected))
        metrics = {metric: round(sum(v) / len(v), 4) for metric, v in scores.items()}
        judged: dict[str, list[float | None]] = {}
        if external is not None:
            inputs = [row for row, _ in rows]
            judged = external(inputs, answers, [e for _, e in rows])
            metrics.update(summarize(judged))
        metrics["failed_rows"] = float(sum(1 for a in answers if a is None))
        info = dict(adapter.info)
        result: dict[str, Any] = {"model_uri": model_uri, "rows": len(rows), "metrics": metrics}
        name, version = info.get("name"), info.get("version")
        if name and version is not None:
            tags = {f"{EVAL_TAG_PREFIX}{k}": str(v) for k, v in metrics.items()}
            build_alias_register().set_tags(str(name), int(version), tags)
            result["version"] = {"name": name, "version": int(version)}
        if isinstance(loader, EvaluationLogger):
            found = row_results(rows, outputs.rows, chosen, scores, external, judged)
            definition = adapter.definition
            secrets = [*SECRETS.values(), *(definition.resolved_secrets() if definition else [])]
            result["run_id"] = loader.log_evaluation(
                model_uri, info, metrics, len(rows), results=redact_deep(found, secrets)
            )
    if as_json:
        emit_json({**result, "store": shown_store(store)})
        return
    say_store(store)
    click.echo(f"evaluated {model_uri} on {len(rows)} rows")
    click.echo(f"{'metric':<16} value")
    for key, value in metrics.items():
        click.echo(f"{key:<16} {value:g}")
    if "run_id" in result:
        click.echo(f"evaluation run: {result['run_id']}")


__all__ = [
    "evaluate",
    "is_plugin_scorer",
    "plugin_scorers",
    "read_dataset",
    "row_results",
    "scorer",
    "summarize",
]
