"""CustomLoader: load a llmreg pyfunc model by URI into a :class:`~llmreg.adapter.ClientAdapter`.

The loader resolves the URI through the MLflow layer (:mod:`llmreg_mlflow.store`),
reads the saved definition JSON, and builds the client through the plugin manager
that built the loader (:attr:`~llmreg.bases.Component.manager`), without running
MLflow's pyfunc loader. Loaded models are cached (:mod:`llmreg_pyfunc.cache`); each
adapter handed out holds a lease on its model's client. mlflow is imported inside
the methods, never at import of this module.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from llmreg.adapter import client_for
from llmreg.bases import Loader
from llmreg.capabilities import EvaluationLogger, ScorerSource, SparkPredictor
from llmreg.schemas import Inputs, Outputs
from llmreg.uris import ModelURI, parse_model_uri
from llmreg_pyfunc.cache import MODEL_CACHE, LoadedModel
from llmreg_pyfunc.frames import to_inputs
from llmreg_pyfunc.tracing import TracedAdapter

if TYPE_CHECKING:
    from llmreg.manager import PluginManager


class LoadedAdapter(TracedAdapter):
    """What :meth:`CustomLoader.load` returns: the core's :class:`~llmreg.adapter.ClientAdapter`
    (the one row loop), which also takes a pandas DataFrame with an ``input`` or
    ``messages`` column.

    :meth:`close` releases the adapter's lease on the loader's cached client; the
    client itself is closed once the cache has dropped it and no adapter holds it.
    """

    def predict(self, inputs: Inputs | Any, params: Mapping[str, Any] | None = None) -> Outputs:
        """Answer every row of ``inputs`` (anything :func:`~llmreg_pyfunc.frames.to_inputs`
        takes), in order; see :meth:`ClientAdapter.predict <llmreg.adapter.ClientAdapter.predict>`.

        Raises:
            SchemaError: bad input or params.
            PredictionError: ``params={"strict": True}`` and a row failed.
        """
        return super().predict(to_inputs(inputs), params)

    async def apredict(
        self, inputs: Inputs | Any, params: Mapping[str, Any] | None = None
    ) -> Outputs:
        """Async form of :meth:`predict`: awaits the client's ``abatch``, holding no thread."""
        return await super().apredict(to_inputs(inputs), params)

    @classmethod
    def load_context(cls, context: Any, *, manager: PluginManager | None = None) -> LoadedAdapter:
        """Build an adapter from an MLflow model ``context`` (its definition artifact), as
        ``CustomSaver.Adapter.load_context`` does inside MLflow's loader.

        Unlike that one, which loads in place (MLflow's protocol), this returns a new
        adapter: a host with its own ``mlflow.pyfunc.PythonModel`` calls it from its
        ``load_context``. The client comes from ``manager`` (the process's default
        manager when ``None``) and is the adapter's own: :meth:`close` closes it.

        Raises:
            ConfigError: the model has no definition artifact.
            ConfigFileNotFoundError: the artifact file is missing.
            UnknownKindError: no installed plugin provides the definition's provider.
        """
        from llmreg_pyfunc.model_files import definition_from_context

        definition, info = definition_from_context(context)
        adapter = cls.build(definition, info, manager=manager)
        assert isinstance(adapter, cls)
        return adapter


class CustomLoader(Loader, SparkPredictor, EvaluationLogger, ScorerSource):
    """Loads models saved by CustomSaver, caching them by resolved version.

    It declares three capabilities (:mod:`llmreg.capabilities`): Spark prediction,
    evaluation logging (an MLflow run) and scorers of its own (``mlflow.genai``).

    Attributes:
        alias_ttl_seconds: how long an alias -> version lookup is reused; a moved
            alias is picked up on the first load after this.
    """

    KIND: Literal["CustomLoader"] = "CustomLoader"
    alias_ttl_seconds: float = Field(default=2.0, ge=0.0)

    #: The adapter class :meth:`load` returns.
    Adapter: ClassVar[type[LoadedAdapter]] = LoadedAdapter

    def load(self, uri: str) -> LoadedAdapter:
        """Load the model at ``uri``: ``runs:/<id>/<path>``, ``models:/<name>/<version>``,
        ``models:/<name>@<alias>``, ``models:/m-<id>`` or a local folder.

        The adapter leases the cached client: :meth:`~LoadedAdapter.close` it when done
        (an adapter that is garbage-collected releases its lease too).

        Raises:
            InvalidModelURIError: ``uri`` is malformed (checked before MLflow is asked).
            ModelNotFoundError: the model, version, alias or run does not exist (named).
            UnsupportedModelFormatError: the model was not saved by CustomSaver, or is corrupted.
            SecretResolutionError: the api_key reference cannot be resolved now.
            StoreUnavailableError: the MLflow store cannot be reached or read.
        """
        parsed = parse_model_uri(uri)
        store = _store_key()
        version = None
        if parsed.kind == "alias":
            version = MODEL_CACHE.alias(
                ("alias", store, parsed.name, parsed.alias),
                self.alias_ttl_seconds,
                lambda: _lookup_alias(parsed),
            )
        manager = self.manager
        key = (manager, *_cache_key(parsed, store, version))
        lease = MODEL_CACHE.lease(key, lambda: _load(parsed, version, manager))
        model = lease.model
        info = {**model.info, "uri": uri, "model_uri": uri, "alias": parsed.alias}
        try:
            adapter = self.Adapter(model.client, model.definition, info, on_close=lease.release)
        except BaseException:
            lease.release()
            raise
        # an adapter dropped without close() still gives its lease back
        weakref.finalize(adapter, lease.release).atexit = False
        return adapter

    def log_evaluation(
        self,
        model_uri: str,
        info: Mapping[str, Any],
        metrics: Mapping[str, float],
        rows: int,
        *,
        results: Sequence[Mapping[str, Any]] | None = None,
    ) -> str:
        """Log an evaluation of ``model_uri`` (``llmreg evaluate``) as an MLflow run.

        The run sits in the experiment of the run that logged the model (else the
        active experiment), is named ``evaluate-<name>-v<version>``, carries the
        metrics (linked to the logged model, so its page shows them) and tags naming
        the model URI, registered name and version. Each row of ``results`` (what
        ``llmreg evaluate`` asked, got and scored) becomes a trace of the run whose
        assessments hold the scores (:mod:`llmreg_pyfunc.assessments`). Returns the run id.
        """
        import mlflow

        from llmreg_mlflow.store.errors import LOAD, mlflow_errors
        from llmreg_mlflow.store.resolve import open_store

        client = open_store(translation=LOAD).client
        with mlflow_errors(f"logging the evaluation of {model_uri!r}", LOAD):
            run_id, name, version = info.get("run_id"), info.get("name"), info.get("version")
            experiment_id = client.get_run(str(run_id)).info.experiment_id if run_id else None
            model_id = None
            if name and version is not None:
                found = client.get_model_version(str(name), str(version))
                model_id = getattr(found, "model_id", None)
            if results:  # the prediction's own traces, built in the background, stay out
                from llmreg_pyfunc import tracing

                getattr(tracing, "flush_pending", lambda: None)()
            label = f"{name}-v{version}" if name else "model"
            tags = {"llmreg.evaluated_model": model_uri, "llmreg.rows": str(rows)}
            if name:
                tags.update({"llmreg.name": str(name), "llmreg.version": str(version)})
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=f"evaluate-{label}", tags=tags
            ) as run:
                mlflow.log_metrics(dict(metrics), model_id=model_id)
                if results:
                    from llmreg_pyfunc.assessments import log_row_results

                    log_row_results(results, run.info.run_id, info, model_id)
            return str(run.info.run_id)

    def genai_scorers(self, specs: Sequence[str], judge_model: str | None = None) -> Any:
        """The ``mlflow.genai`` scorers of ``llmreg evaluate --scorer`` (see
        :mod:`llmreg_pyfunc.scoring`), built before any prediction."""
        from llmreg_pyfunc.scoring import genai_scorers

        return genai_scorers(specs, judge_model)

    def spark_predict(
        self,
        model_uri: str,
        file: str,
        output: str | None = None,
        *,
        master: str | None = None,
        concurrency: int | None = None,
    ) -> Any:
        """Answer ``file`` on Spark (``llmreg predict --spark``); see
        :func:`llmreg_pyfunc.spark.spark_predict`."""
        from llmreg_pyfunc.spark import spark_predict

        return spark_predict(model_uri, file, output, master=master, concurrency=concurrency)


def _store_key() -> tuple[str, str | None, str | None]:
    """Which tracking and registry store a load talks to, cheaply (no URI resolution).

    ``mlflow.get_registry_uri()`` costs about 0.3 ms, more than a whole warm load; the
    inputs it resolves from (tracking URI, ``MLFLOW_REGISTRY_URI``, ``set_registry_uri``)
    identify the store just as well as a cache key.
    """
    import mlflow

    from llmreg_mlflow.store.private import registry_uri_override

    registry = os.environ.get("MLFLOW_REGISTRY_URI")
    return (mlflow.get_tracking_uri(), registry, registry_uri_override())


def _lookup_alias(parsed: ModelURI) -> int:
    from llmreg_mlflow.store.resolve import open_store, resolve_alias

    assert parsed.name is not None and parsed.alias is not None
    return resolve_alias(open_store(), parsed.name, parsed.alias)


def _cache_key(parsed: ModelURI, store: Hashable, version: int | None) -> tuple[Hashable, ...]:
    if parsed.kind in ("version", "alias"):
        return ("version", store, parsed.name, version or parsed.version)
    if parsed.kind == "local":
        from llmreg_mlflow.store.resolve import local_path

        folder = local_path(parsed)
        mlmodel = folder / "MLmodel"
        stamp = os.stat(mlmodel).st_mtime_ns if mlmodel.is_file() else None
        return ("local", str(folder.resolve()), stamp)
    return (parsed.kind, store, parsed.model_id, parsed.run_id, parsed.path)


def _load(parsed: ModelURI, version: int | None, manager: PluginManager) -> LoadedModel:
    from llmreg_mlflow.store.resolve import download, locate, open_store
    from llmreg_pyfunc.model_files import definition_path, read_definition

    store = open_store()
    located = locate(store, parsed, version)
    # Only the definition is kept from the download: the folder goes when it is read,
    # whether the load then succeeds or not.
    with tempfile.TemporaryDirectory(prefix="llmreg-model-") as tmp:
        folder = download(store, located, Path(tmp))
        definition = read_definition(definition_path(folder, parsed.uri), parsed.uri)
    # llmreg.adapter.client_for: a LazyClient inside deferred_clients() (show, diff)
    return LoadedModel(definition, client_for(manager, definition), located.info)


__all__ = ["CustomLoader", "LoadedAdapter"]
