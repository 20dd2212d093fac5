"""Answer a batch of rows through a provider client and attach each row's metadata.

Shared by the MLflow adapter (:mod:`llmreg_pyfunc.adapter`) and the loader's adapter,
so the two predict exactly alike. No mlflow import here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from llmreg.client import Client, Completion
from llmreg.errors import PredictionError, ProviderError, SchemaError
from llmreg.schemas import Inputs, Outputs, Params, Request, Result, check_row_sizes

#: Batch params that override row generation settings.
GENERATION_PARAMS = ("temperature", "max_tokens", "top_p", "seed", "stop")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def split_params(params: dict[str, Any] | None) -> tuple[dict[str, Any], bool, int | None]:
    """Return the generation overrides (unset ones dropped), ``strict`` and ``concurrency``.

    A param is unset when it is ``None``; ``stop`` also when it is ``[]``, the
    default MLflow fills in from the signature (it cannot default a list to null).

    ``concurrency`` (rows in flight, 1 to 256) overrides the definition's for
    this batch; ``None`` keeps it.

    Raises:
        SchemaError: an unknown param, or a value of the wrong type.
    """
    if params is not None and not isinstance(params, dict):
        raise SchemaError(f"params must be a dict, not {type(params).__name__}")
    params = dict(params or {})
    strict = params.pop("strict", False)
    if not isinstance(strict, bool):
        raise SchemaError(f"param 'strict' must be true or false, not {strict!r}")
    concurrency = params.pop("concurrency", None)
    if concurrency is not None and (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= 256
    ):
        raise SchemaError(
            f"param 'concurrency' must be an integer from 1 to 256, not {concurrency!r}"
        )
    unknown = sorted(set(params) - set(GENERATION_PARAMS))
    if unknown:
        raise SchemaError(
            f"unknown params {unknown}; use strict, concurrency and {', '.join(GENERATION_PARAMS)}"
        )
    overrides = {k: v for k, v in params.items() if v is not None}
    if overrides.get("stop") == []:
        del overrides["stop"]
    try:
        Params.model_validate(overrides)
    except ValueError as exc:
        raise SchemaError(f"params are invalid: {exc}") from None
    return overrides, strict, concurrency


def apply_params(inputs: Inputs, overrides: dict[str, Any]) -> list[Request]:
    """Return the rows with batch ``overrides`` filling what each row leaves unset."""
    if not overrides:
        return list(inputs.rows)
    rows = []
    for row in inputs.rows:
        own = row.params.model_dump(exclude_none=True) if row.params else {}
        rows.append(row.model_copy(update={"params": Params(**{**overrides, **own})}))
    return rows


class Predictor:
    """Runs rows through ``client.batch`` and builds :class:`Outputs` with metadata.

    Args:
        client: the provider client, built once per loaded model.
        info: what is known of the loaded model (model_uri, version, alias, run_id),
            copied into every row's metadata.
        concurrency: rows in flight per batch.
    """

    def __init__(self, client: Client, info: dict[str, Any], concurrency: int) -> None:
        self.client = client
        self.info = {key: info.get(key) for key in ("model_uri", "version", "alias", "run_id")}
        self.concurrency = concurrency

    def predict(self, inputs: Inputs, params: dict[str, Any] | None = None) -> Outputs:
        """Answer every row, in order.

        Raises:
            SchemaError: ``params`` are invalid. Besides generation overrides they take
                ``strict`` and ``concurrency`` (see :func:`split_params`).
            PredictionError: ``strict`` is set and a row failed (after fallbacks).
        """
        rows, strict, concurrency = self._prepare(inputs, params)
        return self._finish(rows, strict, self.client.batch(rows, concurrency=concurrency))

    async def apredict(self, inputs: Inputs, params: dict[str, Any] | None = None) -> Outputs:
        """Async form of :meth:`predict`, through the client's ``abatch`` (no worker thread)."""
        rows, strict, concurrency = self._prepare(inputs, params)
        return self._finish(rows, strict, await self.client.abatch(rows, concurrency=concurrency))

    def _prepare(
        self, inputs: Inputs, params: dict[str, Any] | None
    ) -> tuple[list[Request], bool, int]:
        overrides, strict, concurrency = split_params(params)
        prompt = getattr(getattr(self.client, "definition", None), "system_prompt", None)
        check_row_sizes(inputs.rows, prompt)
        return apply_params(inputs, overrides), strict, concurrency or self.concurrency

    def _finish(self, rows: list[Request], strict: bool, results: list[Any]) -> Outputs:
        if len(results) != len(rows):
            raise PredictionError(
                f"the provider answered {len(results)} rows for {len(rows)}: a client bug"
            )
        if strict:
            failed = [(i, r) for i, r in enumerate(results) if isinstance(r, ProviderError)]
            if failed:
                index, error = failed[0]
                raise PredictionError(
                    f"row {index} failed ({type(error).__name__}: {error}); "
                    f"{len(failed)} of {len(rows)} rows failed. Without strict, failed rows "
                    "come back with status 'error'."
                ) from error
        return Outputs(rows=[self._result(r) for r in results])

    def _result(self, outcome: Completion | ProviderError) -> Result:
        if isinstance(outcome, Completion):
            metadata = {**outcome.metadata(), **self.info, "timestamp": _now(), "status": "ok"}
            return Result(prediction=outcome.text, metadata=metadata)
        metadata = {
            "model": None,
            "latency_ms": None,
            "usage": None,
            "attempts": outcome.attempts,
            **self.info,
            "timestamp": _now(),
            "status": "error",
            "error": str(outcome),
            "error_type": type(outcome).__name__,
            "status_code": outcome.status_code,
        }
        return Result(prediction=None, metadata=metadata)
