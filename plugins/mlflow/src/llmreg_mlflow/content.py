"""What a model URI holds: its ``MLmodel``, its content hash, and the source to register.

:func:`inspect_model` reads the model before anything is created, so a URI that
does not exist or is not a model fails with a typed error and leaves nothing
behind. The content hash is the one a llmreg saver wrote into the ``MLmodel``
metadata under :data:`llmreg.hashing.CONTENT_HASH_KEY`; a model saved without it
gets a hash over its files (every artifact but ``MLmodel``, plus the ``flavors``
section of ``MLmodel``, leaving out run-specific fields such as ``run_id``,
``model_id``, ``utc_time_created`` and artifact paths).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmreg.errors import RegistrationError
from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg_mlflow.errors import is_unreachable, translate

#: Files that MLflow writes on download and that are not part of the content.
_NOT_CONTENT = frozenset({"MLmodel", "registered_model_meta"})
#: What a stored content hash may look like (it goes into a search filter).
_HASH_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,256}$")


@dataclass(frozen=True)
class SavedModel:
    """A model found at a URI.

    Attributes:
        uri: the URI it was read from.
        mlmodel: MLflow's parsed ``MLmodel`` (:class:`mlflow.models.Model`).
        content_hash: the hash that identifies its content.
    """

    uri: str
    mlmodel: Any
    content_hash: str


@dataclass(frozen=True)
class Source:
    """What :meth:`MlflowClient.create_model_version` needs to register a model."""

    source: str
    run_id: str | None = None
    model_id: str | None = None


def _download(uri: str, dst: str, tracking_uri: str, registry_uri: str) -> Path:
    import mlflow.artifacts

    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=dst, tracking_uri=tracking_uri, registry_uri=registry_uri
        )
    )


def _not_a_model(model_uri: str, exc: BaseException) -> RegistrationError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RegistrationError(
        f"cannot register {model_uri!r}: it does not exist or is not an MLflow model "
        f"(no readable MLmodel file: {detail}). Pass the URI a saver returned, such as "
        "'models:/m-<id>' or 'runs:/<run_id>/model'."
    )


def hash_model_files(root: Path, flavors: dict[str, Any]) -> str:
    """Return the content hash of a downloaded model folder that carries none.

    Hashes every file but ``MLmodel`` (path and bytes, in path order) and the
    ``flavors`` section of ``MLmodel`` as canonical JSON.
    """
    parts: list[str | bytes] = ["flavors", json.dumps(flavors, sort_keys=True, default=str)]
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        relative = path.relative_to(root).as_posix()
        if relative in _NOT_CONTENT:
            continue
        parts.extend([relative, path.read_bytes()])
    return content_hash(parts)


def _stored_hash(model_uri: str, mlmodel: Any) -> str | None:
    value = (mlmodel.metadata or {}).get(CONTENT_HASH_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or not _HASH_RE.match(value):
        raise RegistrationError(
            f"cannot register {model_uri!r}: its MLmodel metadata {CONTENT_HASH_KEY!r} is "
            f"{value!r}, not a content hash; save the model again with a llmreg saver"
        )
    return value


def _registry_location(client: Any, model_uri: str) -> tuple[str, str | None, str | None]:
    """Return (artifact location, run id, model id) of a ``models:/`` URI."""
    from mlflow.store.artifact.utils.models import _parse_model_uri

    parsed = _parse_model_uri(model_uri)
    if parsed.model_id is not None:
        logged = client.get_logged_model(parsed.model_id)
        return logged.artifact_location, logged.source_run_id, parsed.model_id
    if parsed.alias is not None:
        version = client.get_model_version_by_alias(parsed.name, parsed.alias)
    elif parsed.version is not None:
        version = client.get_model_version(parsed.name, parsed.version)
    else:
        raise RegistrationError(
            f"cannot register {model_uri!r}: name a version or an alias "
            "('models:/<name>/<version>' or 'models:/<name>@<alias>')"
        )
    location = client.get_model_version_download_uri(version.name, version.version)
    return location, version.run_id, None


def read_location(client: Any, model_uri: str) -> str:
    """Return where the files of ``model_uri`` can be downloaded from.

    ``models:/`` URIs are resolved with ``client`` (so with its own tracking and
    registry URIs, not MLflow's global ones); others are returned as given.
    """
    from mlflow.utils.uri import is_models_uri

    if is_models_uri(model_uri):
        return _registry_location(client, model_uri)[0]
    return model_uri


def inspect_model(client: Any, model_uri: str) -> SavedModel:
    """Read the model at ``model_uri`` and return it with its content hash.

    Raises:
        RegistrationError: the URI does not exist or is not a model.
        StoreUnavailableError: the store holding it cannot be reached.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model
    from mlflow.utils.uri import append_to_uri_path

    tracking_uri = client._tracking_client.tracking_uri
    registry_uri = client._registry_uri
    with tempfile.TemporaryDirectory(prefix="llmreg-register-") as tmp:
        try:
            location = read_location(client, model_uri)
            mlmodel_path = _download(
                append_to_uri_path(location, "MLmodel"),
                os.path.join(tmp, "meta"),
                tracking_uri,
                registry_uri,
            )
            mlmodel = Model.load(str(mlmodel_path))
        except (MlflowException, OSError, ValueError) as exc:
            if is_unreachable(exc):
                raise translate(exc, f"reading {model_uri!r}") from exc
            raise _not_a_model(model_uri, exc) from exc
        stored = _stored_hash(model_uri, mlmodel)
        if stored is not None:
            return SavedModel(model_uri, mlmodel, stored)
        try:
            root = _download(location, os.path.join(tmp, "model"), tracking_uri, registry_uri)
        except (MlflowException, OSError) as exc:
            raise translate(exc, f"downloading {model_uri!r} to hash it") from exc
        return SavedModel(model_uri, mlmodel, hash_model_files(root, mlmodel.flavors))


def _logged_model_of_run(client: Any, model_id: str | None, run_id: str) -> Any | None:
    """Return the logged model ``model_id`` if it exists here and belongs to ``run_id``.

    A model copied from another store keeps its old ``model_id`` in ``MLmodel``;
    there the files live in the run's own artifacts instead.
    """
    from mlflow.exceptions import MlflowException

    from llmreg_mlflow.errors import NOT_FOUND_CODES, error_code

    if not model_id:
        return None
    try:
        logged = client.get_logged_model(model_id)
    except MlflowException as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    return logged if logged.source_run_id == run_id else None


def resolve_source(client: Any, model_uri: str, mlmodel: Any) -> Source:
    """Return the source, run id and logged-model id to register ``model_uri`` with.

    Follows :func:`mlflow.register_model`: a logged model (``models:/m-<id>``, or a
    ``runs:/`` URI whose run holds no copy) registers its artifact location with
    its ``model_id``; a ``runs:/`` URI with artifacts registers them with the run
    id; ``models:/<name>/<version>`` or ``@alias`` registers that version's files;
    anything else (a path, ``file:``, ``s3:``...) is registered as given.
    """
    from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository
    from mlflow.utils.uri import is_models_uri

    if RunsArtifactRepository.is_runs_uri(model_uri):
        run_id, _ = RunsArtifactRepository.parse_runs_uri(model_uri)
        logged = _logged_model_of_run(client, getattr(mlmodel, "model_id", None), run_id)
        if logged is not None:
            return Source(logged.artifact_location, run_id, logged.model_id)
        tracking_uri = client._tracking_client.tracking_uri
        return Source(RunsArtifactRepository.get_underlying_uri(model_uri, tracking_uri), run_id)
    if is_models_uri(model_uri):
        return Source(*_registry_location(client, model_uri))
    if "://" not in model_uri and ":" not in model_uri.split("/", 1)[0]:
        return Source(str(Path(model_uri).resolve()))
    return Source(model_uri)


__all__ = [
    "SavedModel",
    "Source",
    "hash_model_files",
    "inspect_model",
    "read_location",
    "resolve_source",
]
