"""``mlflow.genai`` scorers and judges for ``llmreg evaluate --scorer``.

A ``--scorer`` value the core does not know itself names an MLflow scorer:

- ``mlflow:NAME`` or ``mlflow:NAME(key=literal, ...)``: a built-in scorer of
  :mod:`mlflow.genai.scorers` (``mlflow:Correctness``,
  ``mlflow:Guidelines(guidelines="Answer in English.")``, ``mlflow:RegexMatch(...)``);
- ``module:attr``: a scorer of the user's (``@mlflow.genai.scorers.scorer``, a
  :class:`~mlflow.genai.scorers.Scorer` instance or subclass, or a plain function,
  which is wrapped with ``scorer``). The current folder is importable, as under pytest.

Each row is scored through MLflow's own API, ``Scorer.run(inputs=, outputs=,
expectations=)``: ``inputs`` is the dataset row (``input``/``messages``/``vars``),
``outputs`` the model's answer, ``expectations`` ``{"expected_response": expected}``.
A judge (an LLM-backed built-in) calls the model its ``model`` argument names
(``openai:/gpt-4o-mini``; MLflow reads ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``/
``OPENAI_API_BASE``, so any OpenAI-compatible server works), or the
``--judge-model`` given to ``llmreg evaluate`` when the spec names none.

Values become numbers: ``yes``/``no`` (and ``true``/``false``) are 1 and 0, numbers
stay; a scorer returning several feedbacks gives one metric per feedback name. A
row where the scorer failed (or whose value is not a number) is left out of the
mean and counted in ``<metric>_errors``. What each scorer said of each row (its
value as given, rationale and source: ``LLM_JUDGE`` for a judge) is kept as well
(:attr:`GenaiScorers.feedback`): the loader logs it as the row's MLflow assessments
(:mod:`llmreg_pyfunc.assessments`).
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llmreg.errors import ConfigError

logger = logging.getLogger(__name__)

#: The prefix of a built-in MLflow scorer spec.
BUILTIN_PREFIX = "mlflow:"
#: Rows scored at once (judges are remote calls).
SCORING_THREADS = 8

#: Per row, per metric: a number, or ``None`` where the scorer failed.
RowScores = dict[str, list[float | None]]


def _literal_call(spec: str, expr: str) -> tuple[str, dict[str, Any]]:
    """``Name`` or ``Name(key=literal, ...)`` -> ``("Name", {key: value})``."""
    try:
        tree = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(f"--scorer {spec!r}: not NAME or NAME(key=value, ...) ({exc})") from None
    if isinstance(tree, ast.Name):
        return tree.id, {}
    if (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and not tree.args
        and all(k.arg is not None for k in tree.keywords)
    ):
        try:
            kwargs = {str(k.arg): ast.literal_eval(k.value) for k in tree.keywords}
        except ValueError:
            raise ConfigError(
                f"--scorer {spec!r}: arguments must be literals (strings, numbers, lists)"
            ) from None
        return tree.func.id, kwargs
    raise ConfigError(f"--scorer {spec!r}: write mlflow:NAME or mlflow:NAME(key=value, ...)")


def _with_model(cls: Any, kwargs: dict[str, Any], judge_model: str | None) -> dict[str, Any]:
    fields = getattr(cls, "model_fields", {}) or {}
    if judge_model and "model" not in kwargs and "model" in fields:
        return {**kwargs, "model": judge_model}
    return kwargs


def _builtin(spec: str, judge_model: str | None) -> Any:
    from mlflow.genai import scorers as mlflow_scorers

    name, kwargs = _literal_call(spec, spec[len(BUILTIN_PREFIX) :])
    cls = getattr(mlflow_scorers, name, None)
    if not isinstance(cls, type) or not issubclass(cls, mlflow_scorers.Scorer):
        known = sorted(
            n
            for n in getattr(mlflow_scorers, "__all__", [])
            if isinstance(getattr(mlflow_scorers, n, None), type)
            and issubclass(getattr(mlflow_scorers, n), mlflow_scorers.Scorer)
            and n != "Scorer"
        )
        raise ConfigError(
            f"--scorer {spec!r}: mlflow.genai.scorers has no scorer {name!r}; built-ins: "
            + ", ".join(known)
        )
    try:
        return cls(**_with_model(cls, kwargs, judge_model))
    except Exception as exc:  # pydantic's ValidationError, a TypeError: the spec is wrong
        raise ConfigError(f"--scorer {spec!r}: {exc}") from None


def _custom(spec: str, judge_model: str | None) -> Any:
    from mlflow.genai.scorers import Scorer, scorer

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr.isidentifier():
        raise ConfigError(f"--scorer {spec!r}: write module:function (a scorer of yours)")
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--scorer {spec!r}: cannot import {module_name!r} ({exc})") from None
    found = getattr(module, attr, None)
    if found is None:
        raise ConfigError(f"--scorer {spec!r}: {module_name!r} has no {attr!r}")
    if isinstance(found, Scorer):
        return found
    if isinstance(found, type) and issubclass(found, Scorer):
        return found(**_with_model(found, {}, judge_model))
    if callable(found):
        return scorer(found)
    raise ConfigError(f"--scorer {spec!r}: {attr!r} is not a scorer or a function")


def build(spec: str, judge_model: str | None = None) -> Any:
    """Return the MLflow scorer a ``--scorer`` spec names (see the module).

    Raises:
        ConfigError: the spec names no scorer, or its arguments are wrong.
    """
    if spec.startswith(BUILTIN_PREFIX):
        return _builtin(spec, judge_model)
    return _custom(spec, judge_model)


def _number(value: Any) -> float | None:
    """A scorer's value as a number: yes/no and booleans as 1/0; else ``None``."""
    value = getattr(value, "value", value)  # CategoricalRating, an Enum
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("yes", "true", "pass"):
            return 1.0
        if text in ("no", "false", "fail"):
            return 0.0
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _raw(value: Any) -> Any:
    """A scorer's value as MLflow keeps it in an assessment: an enum (``CategoricalRating``)
    as its value; numbers, strings, booleans, lists and dicts as they are; else its text."""
    value = getattr(value, "value", value)
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def _values(name: str, result: Any) -> list[tuple[str, float | None, dict[str, Any]]]:
    """``(metric, number, feedback)`` of one scorer result (a value, a Feedback, or a list of
    them); ``feedback`` is what :class:`GenaiScorers` keeps of it per row (its ``feedback``)."""
    if isinstance(result, list):
        out: list[tuple[str, float | None, dict[str, Any]]] = []
        for item in result:
            out.extend(_values(name, item))
        return out
    if hasattr(result, "feedback") or hasattr(result, "error"):  # an Assessment/Feedback
        metric = getattr(result, "name", None) or name
        source = getattr(result, "source", None)
        kept: dict[str, Any] = {
            "name": metric,
            "rationale": getattr(result, "rationale", None),
            "source_type": str(getattr(source, "source_type", None) or "CODE"),
            "source_id": str(getattr(source, "source_id", None) or name),
        }
        error = getattr(result, "error", None)
        if error is not None:
            logger.warning("scorer %s failed on a row: %s", metric, error)
            message = getattr(error, "error_message", None) or str(error)
            return [(metric, None, {**kept, "value": None, "error": str(message)})]
        value = getattr(result, "value", None)
        return [(metric, _number(value), {**kept, "value": _raw(value)})]
    kept = {"name": name, "value": _raw(result), "source_type": "CODE", "source_id": name}
    return [(name, _number(result), kept)]


class GenaiScorers:
    """The MLflow scorers of one ``llmreg evaluate``, built before any prediction.

    Args:
        specs: the ``--scorer`` values that name MLflow scorers.
        judge_model: the judge model for built-in judges whose spec names none.

    Attributes:
        feedback: after a call, per row (in order) the list of what each scorer said:
            dicts with ``name``, ``value`` (as the scorer gave it: ``"yes"``, ``True``,
            ``0.8``), ``rationale``, ``source_type`` (``CODE`` or ``LLM_JUDGE``),
            ``source_id`` and, where the scorer failed, ``error``. ``llmreg evaluate``
            hands them to the loader, which logs them as MLflow assessments.

    Raises:
        ConfigError: a spec names no scorer (nothing is predicted yet).
    """

    def __init__(self, specs: Sequence[str], judge_model: str | None = None) -> None:
        self.scorers = [(spec, build(spec, judge_model)) for spec in specs]
        self.feedback: list[list[dict[str, Any]]] = []

    def _row(
        self, row: dict[str, Any], answer: str, expected: str
    ) -> list[tuple[str, float | None, dict[str, Any]]]:
        out: list[tuple[str, float | None, dict[str, Any]]] = []
        for spec, one in self.scorers:
            name = str(getattr(one, "name", None) or spec)
            try:
                result = one.run(
                    inputs=row, outputs=answer, expectations={"expected_response": expected}
                )
            except Exception as exc:
                logger.warning("scorer %s failed on a row: %s", name, exc)
                out.append(
                    (name, None, {**_failed(name, one), "error": f"{type(exc).__name__}: {exc}"})
                )
                continue
            out.extend(_values(name, result))
        return out

    def __call__(
        self, rows: Sequence[dict[str, Any]], answers: Sequence[str | None], expected: Sequence[str]
    ) -> RowScores:
        """Score every row; a row without an answer (it failed) scores 0 on every metric.

        Returns:
            ``{metric: [value or None per row]}``, in row order (what each scorer said
            per row is kept in :attr:`feedback`).
        """
        scored: list[list[tuple[str, float | None, dict[str, Any]]] | None] = [None] * len(rows)

        def work(index: int) -> None:
            answer = answers[index]
            if answer is not None:
                scored[index] = self._row(dict(rows[index]), answer, expected[index])

        with ThreadPoolExecutor(max_workers=max(1, min(SCORING_THREADS, len(rows)))) as pool:
            list(pool.map(work, range(len(rows))))
        names: list[str] = []
        for values in scored:
            for metric, _, _ in values or []:
                if metric not in names:
                    names.append(metric)
        if not names:
            names = [str(getattr(one, "name", None) or spec) for spec, one in self.scorers]
        out: RowScores = {name: [] for name in names}
        feedback: list[list[dict[str, Any]]] = []
        for values in scored:
            found = {metric: number for metric, number, _ in values or []}
            for name in names:
                out[name].append(found.get(name) if values is not None else 0.0)
            if values is None:
                feedback.append([_unanswered(name) for name in names])
            else:
                feedback.append([kept for _, _, kept in values])
        self.feedback = feedback
        return out


def _failed(name: str, one: Any) -> dict[str, Any]:
    """The feedback of scorer ``one`` that raised: a judge's (it names a ``model``) is
    the ``LLM_JUDGE``'s, with that model as its source id; any other scorer's is code's."""
    model = getattr(one, "model", None)
    if isinstance(model, str) and model:
        return {"name": name, "value": None, "source_type": "LLM_JUDGE", "source_id": model}
    return {"name": name, "value": None, "source_type": "CODE", "source_id": name}


def _unanswered(name: str) -> dict[str, Any]:
    """What a scorer ``name`` says of a row the model did not answer: 0."""
    return {
        "name": name,
        "value": 0.0,
        "rationale": "not scored: the model gave no answer (the row failed), counted as 0",
        "source_type": "CODE",
        "source_id": name,
    }


def genai_scorers(
    specs: Sequence[str], judge_model: str | None = None
) -> Callable[[Sequence[dict[str, Any]], Sequence[str | None], Sequence[str]], RowScores]:
    """Build the scorers of ``specs`` (see :class:`GenaiScorers`); the loader's hook."""
    return GenaiScorers(specs, judge_model)


__all__ = ["BUILTIN_PREFIX", "GenaiScorers", "build", "genai_scorers"]
