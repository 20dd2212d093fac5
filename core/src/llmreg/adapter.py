"""The one row loop: :class:`ClientAdapter` answers a batch through a provider client.

A Loader reads its model's definition and returns ``self.adapter(definition, info)``, a
:class:`ClientAdapter`. It owns input parsing, batch params, the definition's prompt
templates filled from each row's vars (:mod:`llmreg.templates`), the batch call with
bounded concurrency, strict mode, error rows and per-row metadata. The pyfunc model
that MLflow loads answers through the same class, so every host predicts alike.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Self

from llmreg.client import Client, Completion, RowResult, StreamChunk
from llmreg.errors import PredictionError, ProviderError, SchemaError
from llmreg.lazy import LazyClient, client_for, deferred_clients
from llmreg.schemas import Inputs, Outputs, Params, Request, Result, check_row_sizes
from llmreg.templates import Templates, no_registry

if TYPE_CHECKING:
    from llmreg.definition import ModelDefinition
    from llmreg.manager import PluginManager

#: Batch params that override each row's generation settings.
GENERATION_PARAMS = ("temperature", "max_tokens", "top_p", "seed", "stop")
#: The keys of ``info`` that every row's metadata carries.
INFO_KEYS = ("model_uri", "name", "version", "alias", "run_id")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def split_params(params: Mapping[str, Any] | None) -> tuple[dict[str, Any], bool, int | None]:
    """Return the generation overrides (unset ones dropped), ``strict`` and ``concurrency``.

    A param is unset when it is ``None``; ``stop`` also when it is ``[]``, the
    default MLflow fills in from a signature (it cannot default a list to null).
    ``concurrency`` (rows in flight, 1 to 256) overrides the definition's for
    this batch; ``None`` keeps it.

    Raises:
        SchemaError: ``params`` is not a mapping, names an unknown param, or a
            value has the wrong type.
    """
    if params is not None and not isinstance(params, Mapping):
        raise SchemaError(
            f"params must be an object such as {{'temperature': 0.2}}, not {type(params).__name__}"
        )
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
    unknown = sorted(str(k) for k in set(params) - set(GENERATION_PARAMS))
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


def apply_params(inputs: Inputs, overrides: Mapping[str, Any]) -> list[Request]:
    """Return the rows with batch ``overrides`` filling what each row leaves unset."""
    if not overrides:
        return list(inputs.rows)
    rows = []
    for row in inputs.rows:
        own = row.params.model_dump(exclude_none=True) if row.params else {}
        rows.append(row.model_copy(update={"params": Params(**{**overrides, **own})}))
    return rows


class Adapter(abc.ABC):
    """A loaded model, ready to predict: what :meth:`Loader.load <llmreg.bases.Loader.load>`
    returns (usually a :class:`ClientAdapter`). Its owner calls :meth:`close` when done;
    every connection the adapter (its client) opened is closed when it returns.

    Added in llmreg 0.2.0.
    """

    @abc.abstractmethod
    def predict(self, inputs: Inputs | Any, params: Mapping[str, Any] | None = None) -> Outputs:
        """Answer every row of ``inputs``, in order.

        ``params`` are batch-level options; ``{"strict": True}`` raises on the first
        failed row instead of marking it ``status: error``."""

    async def apredict(
        self, inputs: Inputs | Any, params: Mapping[str, Any] | None = None
    ) -> Outputs:
        """Async form of :meth:`predict`; the default runs it in a worker thread."""
        return await asyncio.to_thread(self.predict, inputs, params)

    @property
    def definition(self) -> ModelDefinition | None:
        """The model definition behind this adapter, where the loader knows it."""
        return None

    @property
    def info(self) -> dict[str, Any]:
        """What is known of the loaded model: ``model_uri``, ``name``, ``version``,
        ``alias``, ``run_id`` (those known; the serving app and ``llmreg show`` read them)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook with a no-op default
        """Release what the adapter holds (its client or client lease). Safe to call twice."""

    async def aclose(self) -> None:
        """Async form of :meth:`close`."""
        self.close()


class ClientAdapter(Adapter):
    """A loaded model that answers through a provider :class:`~llmreg.client.Client`.

    Build one with :meth:`llmreg.bases.Loader.adapter` (or :meth:`build`), which
    gets the client from the manager that built the loader.

    Args:
        client: the provider client for ``definition``, or a function that builds it
            (called at the first prediction: the key is resolved then).
        definition: the loaded model definition (its api_key still a reference).
        info: what is known of the loaded model: ``model_uri``, ``name``,
            ``version``, ``alias``, ``run_id``... copied into every row's metadata
            (the keys in :data:`INFO_KEYS`) and returned by :attr:`info`.
        on_close: called once by :meth:`close` instead of ``client.close()``, for a
            loader that shares one client between adapters (a lease).
    """

    def __init__(
        self,
        client: Client | Callable[[], Client],
        definition: ModelDefinition,
        info: Mapping[str, Any] | None = None,
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if not isinstance(client, Client):
            client = LazyClient(client, definition)
        self.client: Client = client
        self._definition = definition
        self._info = dict(info or {})
        self._info.setdefault("model_uri", self._info.get("uri"))
        self._row_info = {key: self._info.get(key) for key in INFO_KEYS}
        self._on_close = on_close
        self._closed = False
        self._templates = Templates(definition, self.resolve_prompt)

    @classmethod
    def build(
        cls,
        definition: ModelDefinition,
        info: Mapping[str, Any] | None = None,
        *,
        manager: PluginManager | None = None,
    ) -> Self:
        """Build the client of ``definition`` through ``manager`` and wrap it.

        ``manager`` defaults to the process's default manager.

        Raises:
            UnknownKindError: no installed plugin provides the definition's provider.
        """
        if manager is None:
            from llmreg.manager import get_plugin_manager

            manager = get_plugin_manager()
        return cls(client_for(manager, definition), definition, info)

    @property
    def definition(self) -> ModelDefinition:
        """The loaded model definition (api_key still a reference)."""
        return self._definition

    @property
    def info(self) -> dict[str, Any]:
        """What is known of the loaded model (a copy)."""
        return dict(self._info)

    def predict(self, inputs: Inputs | Any, params: Mapping[str, Any] | None = None) -> Outputs:
        """Answer every row of ``inputs``, in order.

        ``inputs`` is anything :meth:`Inputs.parse <llmreg.schemas.Inputs.parse>` takes;
        ``params`` are generation overrides (:data:`GENERATION_PARAMS`), ``concurrency``
        and ``strict``.

        Raises:
            SchemaError: bad input or params (before any request).
            PredictionError: ``strict`` is set and a row failed (after fallbacks).
        """
        rows, strict, concurrency = self._prepare(inputs, params)
        return self._finish(rows, strict, self.client.batch(rows, concurrency=concurrency))

    async def apredict(
        self, inputs: Inputs | Any, params: Mapping[str, Any] | None = None
    ) -> Outputs:
        """Async form of :meth:`predict`, through the client's ``abatch``."""
        rows, strict, concurrency = self._prepare(inputs, params)
        results = await self.client.abatch(rows, concurrency=concurrency)
        return self._finish(rows, strict, results)

    async def astream(
        self, request: Request, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Answer one row as it is generated (the client's :meth:`~Client.astream`), with
        ``params`` as for :meth:`predict`. The last chunk's ``done`` is the answer.

        Raises:
            SchemaError: bad input or params (before any request).
            ProviderError: the endpoint (and every fallback) failed, before or during it.
        """
        rows, _, _ = self._prepare(Inputs(rows=[request]), params)
        async for chunk in self.client.astream(rows[0]):
            yield chunk

    def close(self) -> None:
        """Release the client (or its lease). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close()
        else:
            self.client.close()

    async def aclose(self) -> None:
        """Async form of :meth:`close`: awaits the client's ``aclose`` (``on_close`` runs
        in a worker thread). Safe to call twice, and after :meth:`close`."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            await asyncio.to_thread(self._on_close)
        else:
            await self.client.aclose()

    @property
    def templates(self) -> Templates:
        """The definition's templates, as this adapter applies them to every row."""
        return self._templates

    def resolve_prompt(self, reference: str) -> str:
        """Turn the definition's Prompt Registry reference (``prompts:/...``) into a ``{name}``
        template. A loader that reads the registry overrides it; the default refuses.

        Raises:
            ConfigError: this adapter cannot read the registry.
        """
        return no_registry(reference)

    def _prepare(
        self, inputs: Inputs | Any, params: Mapping[str, Any] | None
    ) -> tuple[list[Request], bool, int]:
        """The rows to send: parsed, batch params applied, the definition's templates
        filled from each row's vars (:class:`~llmreg.templates.Templates`)."""
        parsed = Inputs.parse(inputs)
        overrides, strict, concurrency = split_params(params)
        check_row_sizes(parsed.rows, self.definition.system_prompt)
        rows = self._templates.apply(apply_params(parsed, overrides))
        return rows, strict, concurrency or self.definition.concurrency

    def _finish(self, rows: list[Request], strict: bool, results: list[RowResult]) -> Outputs:
        if not isinstance(results, list) or len(results) != len(rows):
            size = len(results) if isinstance(results, list) else type(results).__name__
            raise PredictionError(
                f"provider {self.definition.provider!r} answered {size} rows for {len(rows)}: "
                "a bug in its client's batch()"
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

    def _result(self, outcome: RowResult) -> Result:
        if isinstance(outcome, Completion):
            metadata = {**outcome.metadata(), **self._row_info, "timestamp": _now(), "status": "ok"}
            return Result(prediction=outcome.text, metadata=metadata)
        if not isinstance(outcome, ProviderError):
            raise PredictionError(
                f"provider {self.definition.provider!r} answered a row with "
                f"{type(outcome).__name__}, not a Completion or a ProviderError: a bug in its "
                "client's batch()"
            )
        metadata = {
            "model": None,
            "latency_ms": None,
            "usage": None,
            "attempts": outcome.attempts,
            **self._row_info,
            "timestamp": _now(),
            "status": "error",
            "error": str(outcome),
            "error_type": type(outcome).__name__,
            "status_code": outcome.status_code,
        }
        return Result(prediction=None, metadata=metadata)


__all__ = [
    "GENERATION_PARAMS",
    "INFO_KEYS",
    "Adapter",
    "ClientAdapter",
    "LazyClient",  # from llmreg.lazy, importable here as before
    "apply_params",
    "client_for",
    "deferred_clients",
    "split_params",
]
