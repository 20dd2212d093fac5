"""CustomLoader: load a llmreg pyfunc model by URI into an :class:`~llmreg.bases.Adapter`.

The loader reads the saved definition JSON and builds the client through the
plugin manager directly, without running MLflow's pyfunc loader. mlflow is
imported inside the methods, never at import of this module.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from llmreg.bases import Adapter, Loader
from llmreg.client import Client
from llmreg.definition import ModelDefinition
from llmreg.errors import ConfigError, SecretResolutionError, UnsupportedModelFormatError
from llmreg.manager import get_plugin_manager
from llmreg.schemas import Inputs, Outputs
from llmreg.uris import ModelURI, parse_model_uri
from llmreg_pyfunc.cache import MODEL_CACHE
from llmreg_pyfunc.frames import to_inputs
from llmreg_pyfunc.predictor import Predictor


@dataclass(frozen=True)
class LoadedModel:
    """One loaded model, as cached: its definition, its client and what MLflow knows of it."""

    definition: ModelDefinition
    client: Client
    info: dict[str, Any]

    def close(self) -> None:
        """Close the client; the cache calls this when it drops the model."""
        self.client.close()


class LoadedAdapter(Adapter):
    """What :meth:`CustomLoader.load` returns: predicts through the cached client.

    Args:
        model: the cached model.
        uri: the URI it was loaded by.
        alias: the alias in that URI, if any.
    """

    def __init__(self, model: LoadedModel, uri: str, alias: str | None) -> None:
        self._model = model
        self._info = {**model.info, "uri": uri, "model_uri": uri, "alias": alias}
        self._predictor = Predictor(model.client, self._info, model.definition.concurrency)

    def predict(self, inputs: Inputs | Any, params: dict[str, Any] | None = None) -> Outputs:
        """Answer every row of ``inputs`` (anything :func:`~llmreg_pyfunc.frames.to_inputs` takes).

        Raises:
            SchemaError: bad input or params.
            PredictionError: ``params={"strict": True}`` and a row failed.
        """
        return self._predictor.predict(to_inputs(inputs), params)

    async def apredict(self, inputs: Inputs | Any, params: dict[str, Any] | None = None) -> Outputs:
        """Async form of :meth:`predict`: awaits the client's ``abatch``, holding no thread."""
        return await self._predictor.apredict(to_inputs(inputs), params)

    @property
    def definition(self) -> ModelDefinition:
        """The loaded model definition (api_key still a reference)."""
        return self._model.definition

    @property
    def info(self) -> dict[str, Any]:
        """uri, name, version, alias, run_id and model_id of the loaded model, where known."""
        return dict(self._info)


class CustomLoader(Loader):
    """Loads models saved by CustomSaver, caching them by resolved version.

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

        Raises:
            InvalidModelURIError: ``uri`` is malformed (checked before MLflow is asked).
            ModelNotFoundError: the model, version, alias or run does not exist (named).
            UnsupportedModelFormatError: the model was not saved by CustomSaver, or is corrupted.
            SecretResolutionError: the api_key reference cannot be resolved now.
        """
        parsed = parse_model_uri(uri)
        registry = _store_key()
        version = None
        if parsed.kind == "alias":
            version = MODEL_CACHE.alias(
                ("alias", registry, parsed.name, parsed.alias),
                self.alias_ttl_seconds,
                lambda: _lookup_alias(parsed),
            )
        key = _cache_key(parsed, registry, version)
        model = MODEL_CACHE.model(key, lambda: _load(parsed, version))
        return LoadedAdapter(model, uri, parsed.alias)


def _store_key() -> tuple[str, str | None, str | None]:
    """Which tracking and registry store a load talks to, cheaply (no URI resolution).

    ``mlflow.get_registry_uri()`` costs about 0.3 ms, more than a whole warm load; the
    inputs it resolves from (tracking URI, ``MLFLOW_REGISTRY_URI``, ``set_registry_uri``)
    identify the store just as well as a cache key.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils

    explicit = getattr(registry_utils, "_registry_uri", None)
    return (mlflow.get_tracking_uri(), os.environ.get("MLFLOW_REGISTRY_URI"), explicit)


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def _lookup_alias(parsed: ModelURI) -> int:
    from llmreg_pyfunc.resolve import resolve_alias

    assert parsed.name is not None and parsed.alias is not None
    return resolve_alias(_client(), parsed.name, parsed.alias)


def _cache_key(parsed: ModelURI, registry: Any, version: int | None) -> tuple[Any, ...]:
    if parsed.kind in ("version", "alias"):
        return ("version", registry, parsed.name, version or parsed.version)
    if parsed.kind == "local":
        mlmodel = Path(parsed.path or "") / "MLmodel"
        stamp = os.stat(mlmodel).st_mtime_ns if mlmodel.is_file() else None
        return ("local", str(Path(parsed.path or "").resolve()), stamp)
    return (parsed.kind, registry, parsed.model_id, parsed.run_id, parsed.path)


def _load(parsed: ModelURI, version: int | None) -> LoadedModel:
    from llmreg_pyfunc.resolve import config_path, download, locate

    located = locate(_client(), parsed, version)
    # Only the definition is kept from the download: the folder goes when it is read,
    # whether the load then succeeds or not.
    with tempfile.TemporaryDirectory(prefix="llmreg-model-") as tmp:
        folder = download(located, parsed.uri, Path(tmp))
        definition = _read_definition(config_path(folder, parsed.uri), parsed.uri)
    client = get_plugin_manager().client(definition)
    return LoadedModel(definition, client, located.info)


def _read_definition(path: Path, what: str) -> ModelDefinition:
    try:
        return ModelDefinition.from_file(path)
    except SecretResolutionError:
        raise
    except ConfigError as exc:
        raise UnsupportedModelFormatError(
            f"{what} holds an unreadable model definition: {exc}"
        ) from None
