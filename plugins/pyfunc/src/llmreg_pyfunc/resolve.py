"""Resolve a parsed model URI against MLflow: look it up, download it, check its format.

Every MLflow failure is turned into a typed llmreg error here; no bare
``MlflowException`` or ``KeyError`` leaves this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llmreg.errors import (
    InvalidModelURIError,
    LlmregError,
    ModelNotFoundError,
    StoreUnavailableError,
    UnsupportedModelFormatError,
)
from llmreg.uris import ModelURI
from llmreg_pyfunc.layout import ARTIFACTS_DIR, CONFIG_KEY, FORMAT, FORMAT_KEY

T = TypeVar("T")
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "ENDPOINT_NOT_FOUND"}
_BAD_INPUT = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST"}


@dataclass(frozen=True)
class Located:
    """A model URI pinned to what it points at now."""

    download_uri: str
    info: dict[str, Any]


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", "") or "")


@contextlib.contextmanager
def mlflow_errors(what: str) -> Iterator[None]:
    """Turn MLflow and I/O errors inside the block into typed errors about ``what``.

    A missing file or key is :class:`ModelNotFoundError`; a permission or connection
    error (``requests``' too) is :class:`StoreUnavailableError`.
    """
    from mlflow.exceptions import MlflowException

    try:
        yield
    except LlmregError:
        raise
    except MlflowException as exc:
        code = _code(exc)
        if code in _NOT_FOUND:
            raise ModelNotFoundError(f"{what} does not exist: {exc.message}") from None
        if code in _BAD_INPUT:
            raise InvalidModelURIError(f"{what} is not valid: {exc.message}") from None
        raise StoreUnavailableError(
            f"the MLflow store failed while looking up {what}: {exc.message}. "
            "Check MLFLOW_TRACKING_URI and that the store is reachable."
        ) from None
    except (OSError, KeyError) as exc:
        if _store_unreachable(exc):
            raise StoreUnavailableError(
                f"the MLflow store could not be reached or read while looking up {what}: "
                f"{type(exc).__name__}: {exc}. Check MLFLOW_TRACKING_URI, that the store is "
                "up, and that this process may read its artifacts."
            ) from None
        raise ModelNotFoundError(f"{what} could not be read: {type(exc).__name__}: {exc}") from None


def _store_unreachable(exc: BaseException) -> bool:
    """Whether an I/O error means the store cannot be reached or read (not a missing model)."""
    import requests

    return isinstance(exc, PermissionError | ConnectionError | requests.exceptions.ConnectionError)


def _call(what: str, fn: Callable[[], T]) -> T:
    with mlflow_errors(what):
        return fn()


def _registered_model_missing(client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if _code(exc) in _NOT_FOUND:
            return True
        raise
    return False


def _missing_name(client: Any, name: str, detail: str) -> ModelNotFoundError:
    with mlflow_errors(f"registered model {name!r}"):
        if _registered_model_missing(client, name):
            return ModelNotFoundError(
                f"registered model {name!r} does not exist: check the name, or register it first"
            )
    return ModelNotFoundError(detail)


def resolve_alias(client: Any, name: str, alias: str) -> int:
    """Return the version ``alias`` points at.

    Raises:
        ModelNotFoundError: the registered model or the alias does not exist (named).
    """
    try:
        found = _call(
            f"alias @{alias} of {name!r}", lambda: client.get_model_version_by_alias(name, alias)
        )
    except (ModelNotFoundError, InvalidModelURIError):
        # MLflow answers an unknown alias with INVALID_PARAMETER_VALUE, not NOT_FOUND;
        # the alias syntax itself was checked before this call.
        raise _missing_name(
            client,
            name,
            f"alias @{alias} of registered model {name!r} does not exist: "
            "set it (promote a version) first",
        ) from None
    return int(found.version)


def locate(client: Any, uri: ModelURI, version: int | None = None) -> Located:
    """Look up ``uri`` (with an alias already resolved to ``version``) in MLflow.

    Raises:
        ModelNotFoundError: the model, version or run does not exist (named).
    """
    if uri.kind in ("version", "alias"):
        assert uri.name is not None
        number = version if version is not None else uri.version
        try:
            mv = _call(
                f"version {number} of registered model {uri.name!r}",
                lambda: client.get_model_version(uri.name, str(number)),
            )
        except ModelNotFoundError as exc:
            raise _missing_name(client, uri.name, str(exc)) from None
        info = {"name": uri.name, "version": int(mv.version), "alias": uri.alias}
        info |= {"run_id": mv.run_id, "model_id": getattr(mv, "model_id", None)}
        return Located(f"models:/{uri.name}/{number}", info)
    if uri.kind == "logged_model":
        found = _call(f"logged model {uri.model_id}", lambda: client.get_logged_model(uri.model_id))
        info = {"model_id": found.model_id, "run_id": found.source_run_id}
        return Located(uri.uri, info)
    if uri.kind == "run":
        run = _call(f"run {uri.run_id}", lambda: client.get_run(uri.run_id))
        return Located(uri.uri, {"run_id": run.info.run_id})
    path = Path(uri.path or "")
    if not path.exists():
        raise ModelNotFoundError(f"local model path {str(path)!r} does not exist")
    return Located(str(path.resolve()), {})


def download(located: Located, what: str, target: Path) -> Path:
    """Download the model's files into ``target`` (local paths are used as they are).

    The caller owns ``target`` and removes it.

    Raises:
        ModelNotFoundError: nothing is stored there.
    """
    if located.download_uri.startswith("/") or Path(located.download_uri).is_dir():
        return Path(located.download_uri)
    import mlflow.artifacts

    return Path(
        _call(
            f"the model files of {what}",
            lambda: mlflow.artifacts.download_artifacts(
                artifact_uri=located.download_uri, dst_path=str(target)
            ),
        )
    )


def config_path(model_dir: Path, what: str) -> Path:
    """Check that ``model_dir`` holds a llmreg pyfunc model; return its definition JSON path.

    Raises:
        UnsupportedModelFormatError: no or unreadable ``MLmodel``, another flavor,
            no llmreg marker, or a missing definition artifact.
    """
    from mlflow.models import Model

    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise UnsupportedModelFormatError(
            f"{what} is not an MLflow model (no MLmodel file in {model_dir})"
        )
    try:
        model = Model.load(str(mlmodel))
        metadata = model.metadata or {}
        flavors = model.flavors
    except Exception as exc:
        raise UnsupportedModelFormatError(
            f"{what} has an unreadable MLmodel file ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(metadata, dict) or metadata.get(FORMAT_KEY) != FORMAT:
        raise UnsupportedModelFormatError(
            f"{what} was not saved by llmreg's CustomSaver (MLmodel metadata has no "
            f"{FORMAT_KEY}: {FORMAT}); load it with mlflow.pyfunc.load_model instead"
        )
    if not isinstance(flavors, dict) or "python_function" not in flavors:
        raise UnsupportedModelFormatError(f"{what} has no python_function flavor")
    name = metadata.get(CONFIG_KEY)
    path = model_dir / ARTIFACTS_DIR / str(name)
    if not isinstance(name, str) or not path.is_file():
        raise UnsupportedModelFormatError(
            f"{what} is incomplete: its model definition artifact {name!r} is missing. "
            "Save the model again."
        )
    return path
