"""The one resolver of model URIs against MLflow, its downloader, and the ``MLmodel`` reader.

:func:`open_store` gives a :class:`Store`: a tracking URI, a registry URI and a
client on them. :func:`locate` pins a parsed URI (:mod:`llmreg.uris`) to what it
points at now: where its files are, and its name, version, alias, run and logged
model. :func:`download` fetches the files (or one file) from there, and
:func:`read_mlmodel` parses an ``MLmodel``. The loader of llmreg-pyfunc and the
register of llmreg-mlflow both go through these, with the errors of
:mod:`llmreg_mlflow.store.errors`:

- a malformed URI: :class:`~llmreg.errors.InvalidModelURIError`;
- a registered model, version, alias, logged model, run or local folder that does
  not exist: :class:`~llmreg.errors.ModelNotFoundError`, naming which;
- files that are not an MLflow model: :class:`~llmreg.errors.UnsupportedModelFormatError`;
- an unreachable store: :class:`~llmreg.errors.StoreUnavailableError`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmreg.errors import (
    ConfigError,
    InvalidModelURIError,
    ModelNotFoundError,
    UnsupportedModelFormatError,
)
from llmreg.secrets import mask_userinfo
from llmreg.uris import LATEST, ModelURI, parse_model_uri
from llmreg_mlflow.store.errors import (
    LOAD,
    NOT_FOUND_CODES,
    Translation,
    error_code,
    mlflow_errors,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models import Model

#: What a located URI is: the kinds of :class:`llmreg.uris.ModelURI`, or ``artifact``
#: for any other artifact URI (``s3://``...), which only the register reads.
LocatedKind = Literal["run", "version", "alias", "logged_model", "local", "artifact"]


@dataclass(frozen=True)
class Store:
    """One MLflow store: its tracking and registry URIs, and a client on them.

    The URIs are kept here so that nothing has to read them back from the client.
    """

    tracking_uri: str
    registry_uri: str
    client: MlflowClient = field(repr=False, compare=False)


def store_uris(tracking_uri: str | None = None, registry_uri: str | None = None) -> tuple[str, str]:
    """Return the (tracking URI, registry URI) to use: the given ones, else MLflow's own.

    The registry URI defaults to ``tracking_uri`` when that is given, else to MLflow's
    (``MLFLOW_REGISTRY_URI``, then the tracking URI).
    """
    import mlflow

    tracking = tracking_uri or mlflow.get_tracking_uri()
    registry = registry_uri or tracking_uri or mlflow.get_registry_uri()
    return tracking, registry


def open_store(
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    translation: Translation = LOAD,
) -> Store:
    """Return a :class:`Store` on the given URIs, or MLflow's own where they are ``None``
    (see :func:`store_uris`).

    Raises:
        ConfigError: MLflow does not support the URI (it is configuration, whatever the
            operation).
        StoreUnavailableError: the store cannot be reached.
    """
    from mlflow import MlflowClient

    tracking, registry = store_uris(tracking_uri, registry_uri)
    opening = replace(translation, bad_input=ConfigError)
    with mlflow_errors(f"opening the MLflow store {mask_userinfo(tracking)!r}", opening):
        client = MlflowClient(tracking_uri=tracking, registry_uri=registry)
    return Store(tracking, registry, client)


@dataclass(frozen=True)
class Located:
    """A model URI pinned to what it points at now.

    Attributes:
        uri: the URI as given.
        kind: what it names (see :data:`LocatedKind`).
        location: where its files are: an artifact URI MLflow downloads from, or a
            local folder.
        name: the registered model name (``version`` and ``alias`` URIs).
        version: the registered version it points at now.
        alias: the alias in the URI, if any.
        run_id: the run the model was logged in, where known.
        model_id: the logged model id, where known.
    """

    uri: str
    kind: LocatedKind
    location: str
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    run_id: str | None = None
    model_id: str | None = None

    @property
    def is_local(self) -> bool:
        """Whether :attr:`location` is a folder on this machine (read in place)."""
        return self.kind == "local"

    @property
    def info(self) -> dict[str, Any]:
        """What a loaded model reports: ``uri``/``model_uri``, ``name``, ``version``,
        ``alias``, ``run_id`` and ``model_id``."""
        return {
            "uri": self.uri,
            "model_uri": self.uri,
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "model_id": self.model_id,
        }


def logged_model_uri(model_id: str) -> str:
    """Return ``models:/<model_id>`` for an MLflow 3 logged model, checked by :mod:`llmreg.uris`.

    Raises:
        InvalidModelURIError: ``model_id`` is not a logged-model id (``m-<hex>``).
    """
    uri = f"models:/{model_id}"  # llmreg.uris has no builder for this form (yet)
    if parse_model_uri(uri).kind != "logged_model":
        raise InvalidModelURIError(f"{model_id!r} is not an MLflow logged-model id (m-<hex>)")
    return uri


def join_uri(location: str, path: str) -> str:
    """Return ``location`` (an artifact URI or a local path) with ``path`` appended."""
    parts = urllib.parse.urlsplit(location)
    if not parts.scheme or len(parts.scheme) == 1:  # a plain path (or a Windows drive)
        return str(Path(location) / path)
    joined = parts.path.rstrip("/") + "/" + path.lstrip("/")
    return urllib.parse.urlunsplit(parts._replace(path=joined))


def _registered_model_missing(store: Store, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        store.client.get_registered_model(name)
    except MlflowException as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return True
        raise
    return False


def _missing_name(store: Store, name: str, detail: str) -> ModelNotFoundError:
    """The error for a missing version or alias: naming the model when it is the model
    that is missing."""
    with mlflow_errors(f"looking up registered model {name!r}", LOAD):
        if _registered_model_missing(store, name):
            return ModelNotFoundError(
                f"registered model {name!r} does not exist: check the name, or register it first"
            )
    return ModelNotFoundError(detail)


def resolve_alias(store: Store, name: str, alias: str) -> int:
    """Return the version ``alias`` of ``name`` points at.

    ``alias`` :data:`llmreg.uris.LATEST` (from ``models:/<name>/latest``) is the
    highest version of ``name``, as MLflow reads that URI.

    Raises:
        ModelNotFoundError: the registered model or the alias does not exist (named).
        StoreUnavailableError: the store cannot be reached.
    """
    if alias == LATEST:
        return resolve_latest(store, name)
    from llmreg_mlflow.rest import rest_registry

    if (rest := rest_registry(store.tracking_uri, store.registry_uri)) is not None:
        # against a server, one request on the REST path's kept-alive connection (the
        # serving app's alias poll asks this every alias_ttl_seconds)
        return rest.alias_version(name, alias)
    try:
        with mlflow_errors(f"looking up alias @{alias} of {name!r}", LOAD):
            found = store.client.get_model_version_by_alias(name, alias)
    except (ModelNotFoundError, InvalidModelURIError):
        # MLflow answers an unknown alias with INVALID_PARAMETER_VALUE, not NOT_FOUND;
        # the alias syntax itself was checked by llmreg.uris before this call.
        raise _missing_name(
            store,
            name,
            f"alias @{alias} of registered model {name!r} does not exist: "
            "set it (promote a version) first",
        ) from None
    return int(found.version)


def resolve_latest(store: Store, name: str) -> int:
    """Return the highest version number of ``name`` (``models:/<name>/latest``).

    Raises:
        ModelNotFoundError: the registered model does not exist, or has no version.
        StoreUnavailableError: the store cannot be reached.
    """
    with mlflow_errors(f"looking up the latest version of {name!r}", LOAD):
        found = store.client.search_model_versions(
            filter_string=f"name = '{name}'", max_results=1000, order_by=["version_number DESC"]
        )
    numbers = [int(v.version) for v in found]
    if not numbers:
        raise _missing_name(store, name, f"registered model {name!r} has no version yet")
    return max(numbers)


def locate(store: Store, uri: ModelURI, version: int | None = None) -> Located:
    """Look ``uri`` up in ``store`` and return what it points at now.

    Args:
        store: the store to ask.
        uri: a parsed URI (:func:`llmreg.uris.parse_model_uri`).
        version: for an alias URI, the version it was already resolved to (a cached
            lookup); ``None`` asks the registry.

    Raises:
        ModelNotFoundError: the registered model, version, alias, logged model, run
            or local folder does not exist (the message names which).
        StoreUnavailableError: the store cannot be reached.
    """
    client = store.client
    if uri.kind in ("version", "alias"):
        assert uri.name is not None
        name = uri.name
        if version is None:
            version = uri.version
        if version is None:
            assert uri.alias is not None
            version = resolve_alias(store, name, uri.alias)
        what = f"version {version} of registered model {name!r}"
        try:
            with mlflow_errors(f"looking up {what}", LOAD):
                found = client.get_model_version(name, str(version))
        except ModelNotFoundError as exc:
            raise _missing_name(store, name, str(exc)) from None
        with mlflow_errors(f"looking up the files of {what}", LOAD):
            location = client.get_model_version_download_uri(name, str(version))
        return Located(
            uri.uri,
            uri.kind,
            location,
            name=name,
            version=int(found.version),
            alias=uri.alias,
            run_id=found.run_id,
            model_id=getattr(found, "model_id", None),
        )
    if uri.kind == "logged_model":
        assert uri.model_id is not None
        with mlflow_errors(f"looking up logged model {uri.model_id}", LOAD):
            logged = client.get_logged_model(uri.model_id)
        return Located(
            uri.uri,
            "logged_model",
            logged.artifact_location,
            run_id=logged.source_run_id,
            model_id=logged.model_id,
        )
    if uri.kind == "run":
        assert uri.run_id is not None
        with mlflow_errors(f"looking up run {uri.run_id}", LOAD):
            run = client.get_run(uri.run_id)
        # download_artifacts resolves runs:/ itself, including MLflow 3's fallback to
        # the run's logged model when the run holds no copy of its files.
        return Located(uri.uri, "run", uri.uri, run_id=run.info.run_id)
    path = local_path(uri)
    if not path.exists():
        raise ModelNotFoundError(f"local model path {str(path)!r} does not exist")
    return Located(uri.uri, "local", str(path.resolve()))


def local_path(uri: ModelURI) -> Path:
    """Return the folder a local model URI names.

    Raises:
        InvalidModelURIError: the path holds a NUL character, which no file system takes.
    """
    text = uri.path or ""
    if "\x00" in text:
        raise InvalidModelURIError(
            f"model URI {uri.uri!r} is invalid: a path cannot hold a NUL character"
        )
    return Path(text)


def locate_any(store: Store, uri: str) -> Located:
    """Like :func:`locate`, for a URI string; an artifact URI of another scheme
    (``s3://``, ``mlflow-artifacts:``...) is taken as the location of its files.

    Raises:
        InvalidModelURIError: ``uri`` is empty or malformed.
        ModelNotFoundError, StoreUnavailableError: as :func:`locate`.
    """
    try:
        parsed = parse_model_uri(uri)
    except InvalidModelURIError:
        if isinstance(uri, str) and ":" in uri and not uri.startswith(("models:", "runs:")):
            return Located(uri, "artifact", uri)
        raise
    return locate(store, parsed)


def download(store: Store, located: Located, target: Path, path: str | None = None) -> Path:
    """Return a local copy of the model's files, or of the one file ``path`` among them.

    A local model is read in place (nothing is copied); otherwise the files go into
    ``target``, which the caller owns and removes.

    Raises:
        ModelNotFoundError: nothing is stored there.
        StoreUnavailableError: the store cannot be reached or read.
    """
    if located.is_local:
        root = Path(located.location)
        return root / path if path else root
    import mlflow.artifacts

    source = join_uri(located.location, path) if path else located.location
    what = f"the file {path} of {located.uri!r}" if path else f"the files of {located.uri!r}"
    with mlflow_errors(f"downloading {what}", LOAD):
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(target), tracking_uri=store.tracking_uri
            )
        )


def read_mlmodel(path: Path, what: str) -> Model:
    """Parse the ``MLmodel`` file at ``path`` (of the model ``what``, for messages).

    Raises:
        UnsupportedModelFormatError: there is no such file, or it does not parse.
    """
    from mlflow.models import Model

    if not path.is_file():
        raise UnsupportedModelFormatError(
            f"{what} is not an MLflow model (no MLmodel file in {path.parent})"
        )
    try:
        model = Model.load(str(path))
        if not isinstance(model.flavors, dict):
            raise TypeError(f"its flavors are {type(model.flavors).__name__}, not a mapping")
    except Exception as exc:
        raise UnsupportedModelFormatError(
            f"{what} has an unreadable MLmodel file ({type(exc).__name__}: {exc})"
        ) from None
    return model


def model_info(mlmodel: Model) -> dict[str, Any]:
    """Return ``model_uri`` (``models:/m-<id>``), ``run_id`` and ``model_id`` of a parsed
    ``MLmodel``."""
    model_id = getattr(mlmodel, "model_id", None)
    try:
        uri = logged_model_uri(model_id) if isinstance(model_id, str) else None
    except InvalidModelURIError:
        uri = None
    return {"model_uri": uri, "run_id": mlmodel.run_id, "model_id": model_id}


__all__ = [
    "Located",
    "LocatedKind",
    "Store",
    "download",
    "join_uri",
    "local_path",
    "locate",
    "locate_any",
    "logged_model_uri",
    "model_info",
    "open_store",
    "read_mlmodel",
    "resolve_alias",
    "store_uris",
]
