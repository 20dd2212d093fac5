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
import contextlib
import contextvars
import datetime as dt
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from llmreg.client import Client, Completion, RowResult, StreamChunk
from llmreg.errors import PredictionError, ProviderError, SchemaError
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
    returns (usually a :class:`ClientAdapter`). Its owner calls :meth:`close` when done."""

    @abc.abstractmethod
    def predict(self, inputs: Inputs | Any, params: Mapping[str, Any] | None = None) -> Outputs:
        """Answer every row of ``inputs``, in order.

        Args:
            inputs: :class:`Inputs`, or anything :meth:`Inputs.parse` accepts.
            params: batch-level options; ``{"strict": True}`` raises on the first
                failed row instead of marking it ``status: error``.
        """

    async def apredict(
        self, inputs: Inputs | Any, params: Mapping[str, Any] | None = None
    ) -> Outputs:
        """Async form of :meth:`predict`, for async hosts such as the serving app.

        The default runs :meth:`predict` in a worker thread; an adapter whose
        client has an async path overrides it.
        """
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


#: Set (by :func:`deferred_clients`) while clients are to be built at first use.
_DEFERRED: contextvars.ContextVar[bool] = contextvars.ContextVar("llmreg_deferred", default=False)


@contextlib.contextmanager
def deferred_clients() -> Iterator[None]:
    """Within this block, :func:`client_for` (and so :meth:`ClientAdapter.build` and the
    loaders using it) builds no client: the key is resolved at the first prediction.

    The CLI's reading commands (``show``, ``diff``) load models this way, so that
    they never need the provider's key.
    """
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


class LazyClient(Client):
    """A :class:`~llmreg.client.Client` that builds the real one at its first call.

    Args:
        factory: builds the real client (resolving its keys) when first needed.
        definition: the model definition the client will be for.
    """

    def __init__(self, factory: Callable[[], Client], definition: ModelDefinition) -> None:
        super().__init__(definition)
        self._factory: Callable[[], Client] | None = factory
        self._client: Client | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the real client has been built."""
        return self._client is not None

    def real(self) -> Client:
        """The real client, built on first use (once, even from several threads)."""
        with self._lock:
            if self._client is None:
                if self._factory is None:
                    raise PredictionError("the model's client is closed; load the model again")
                self._client = self._factory()
            return self._client

    def complete(self, request: Request) -> Completion:
        """Answer one request through the real client."""
        return self.real().complete(request)

    def batch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Answer a batch through the real client."""
        return self.real().batch(requests, concurrency=concurrency)

    async def abatch(
        self, requests: Sequence[Request], *, concurrency: int | None = None
    ) -> list[RowResult]:
        """Answer a batch through the real client, async."""
        return await self.real().abatch(requests, concurrency=concurrency)

    async def astream(self, request: Request) -> AsyncIterator[StreamChunk]:
        """Stream one request through the real client (its own streaming, if any)."""
        async for chunk in self.real().astream(request):
            yield chunk

    async def achat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Pass a chat body through the real client (see :meth:`Client.achat`)."""
        return await self.real().achat(body)

    async def achat_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream a passed-through chat body through the real client."""
        async for chunk in self.real().achat_stream(body):
            yield chunk

    def close(self) -> None:
        """Close the real client if it was built; later calls fail. Safe twice."""
        with self._lock:
            client, self._client, self._factory = self._client, None, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Async form of :meth:`close`."""
        with self._lock:
            client, self._client, self._factory = self._client, None, None
        if client is not None:
            await client.aclose()


def client_for(manager: PluginManager, definition: ModelDefinition) -> Client:
    """``manager.client(definition)``, or a :class:`LazyClient` inside :func:`deferred_clients`.

    Loaders call this instead of ``manager.client`` so that a reading command loads a
    model without resolving its key.
    """
    if _DEFERRED.get():
        manager.client_factory(definition.provider)  # an unknown provider still fails now
        return LazyClient(lambda: manager.client(definition), definition)
    return manager.client(definition)


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

        Args:
            manager: the plugin manager that provides the definition's provider;
                the process's default manager when ``None``.

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

        Args:
            inputs: anything :meth:`Inputs.parse <llmreg.schemas.Inputs.parse>` takes.
            params: generation overrides (``temperature``, ``max_tokens``, ``top_p``,
                ``seed``, ``stop``), ``concurrency`` and ``strict``.

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
        """Answer one row as it is generated, through the client's :meth:`~Client.astream`.

        ``params`` are applied as by :meth:`predict` (``strict`` and ``concurrency``
        mean nothing for one streamed row). The last chunk's ``done`` is the answer.

        Raises:
            SchemaError: bad input or params (before any request).
            ProviderError: the endpoint (and every fallback) failed, before or
                during the stream.
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
    "LazyClient",
    "apply_params",
    "client_for",
    "deferred_clients",
    "split_params",
]
