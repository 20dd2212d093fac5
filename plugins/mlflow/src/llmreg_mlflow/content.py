"""What a model URI holds for registration: its ``MLmodel``, its content hash, its source.

:func:`inspect_model` reads the model before anything is created, so a URI that
does not exist or is not a model fails with a typed error and leaves nothing
behind. It resolves the URI through the MLflow layer (:mod:`llmreg_mlflow.store`).
The content hash is the one a llmreg saver wrote into the ``MLmodel`` metadata
under :data:`llmreg.hashing.CONTENT_HASH_KEY`; a model saved without it gets a
hash over its files (every artifact but ``MLmodel``, plus the ``flavors`` section
of ``MLmodel``, leaving out run-specific fields such as ``run_id``, ``model_id``,
``utc_time_created`` and artifact paths).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmreg.errors import (
    InvalidModelURIError,
    LlmregError,
    ModelNotFoundError,
    RegistrationError,
    UnsupportedModelFormatError,
)
from llmreg.hashing import CONTENT_HASH_KEY, content_hash
from llmreg.uris import parse_model_uri
from llmreg_mlflow.store.errors import REGISTER, classify, mlflow_errors
from llmreg_mlflow.store.resolve import (
    Located,
    Store,
    download,
    join_uri,
    locate_any,
    read_mlmodel,
)

if TYPE_CHECKING:
    from mlflow.entities import LoggedModel
    from mlflow.models import Model

#: Files that MLflow writes on download and that are not part of the content.
_NOT_CONTENT = frozenset({"MLmodel", "registered_model_meta"})
#: What a stored content hash may look like (it goes into a search filter).
_HASH_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,256}$")


@dataclass(frozen=True)
class Inspected:
    """A model found at a URI, ready to register.

    Attributes:
        located: what the URI points at (:func:`~llmreg_mlflow.store.resolve.locate`).
        mlmodel: MLflow's parsed ``MLmodel`` (:class:`mlflow.models.Model`).
        content_hash: the hash that identifies its content.
    """

    located: Located
    mlmodel: Model
    content_hash: str


@dataclass(frozen=True)
class Source:
    """What :meth:`MlflowClient.create_model_version` needs to register a model."""

    source: str
    run_id: str | None = None
    model_id: str | None = None


def _not_a_model(model_uri: str, exc: LlmregError) -> RegistrationError:
    return RegistrationError(
        f"cannot register {model_uri!r}: it does not exist or is not an MLflow model "
        f"({exc}). Pass the URI a saver returned, such as 'models:/m-<id>' or "
        "'runs:/<run_id>/model'."
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


def _stored_hash(model_uri: str, mlmodel: Model) -> str | None:
    value = (mlmodel.metadata or {}).get(CONTENT_HASH_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or not _HASH_RE.match(value):
        raise RegistrationError(
            f"cannot register {model_uri!r}: its MLmodel metadata {CONTENT_HASH_KEY!r} is "
            f"{value!r}, not a content hash; save the model again with a llmreg saver"
        )
    return value


def inspect_model(store: Store, model_uri: str) -> Inspected:
    """Read the model at ``model_uri`` and return it with its content hash.

    Raises:
        RegistrationError: the URI does not exist or is not a model.
        StoreUnavailableError: the store holding it cannot be reached.
    """
    with tempfile.TemporaryDirectory(prefix="llmreg-register-") as tmp:
        try:
            located = locate_any(store, model_uri)
            meta = download(store, located, Path(tmp, "meta"), "MLmodel")
            mlmodel = read_mlmodel(meta, repr(model_uri))
            stored = _stored_hash(model_uri, mlmodel)
            if stored is not None:
                return Inspected(located, mlmodel, stored)
            root = download(store, located, Path(tmp, "model"))
        except (InvalidModelURIError, ModelNotFoundError, UnsupportedModelFormatError) as exc:
            raise _not_a_model(model_uri, exc) from exc
        return Inspected(located, mlmodel, hash_model_files(root, mlmodel.flavors))


def _logged_model_of_run(store: Store, model_id: str | None, run_id: str) -> LoggedModel | None:
    """Return the logged model ``model_id`` if it exists here and belongs to ``run_id``.

    A model copied from another store keeps its old ``model_id`` in ``MLmodel``;
    there the files live in the run's own artifacts instead.
    """
    from mlflow.exceptions import MlflowException

    if not model_id:
        return None
    try:
        logged = store.client.get_logged_model(model_id)
    except MlflowException as exc:
        if classify(exc) == "not_found":
            return None
        raise
    return logged if logged.source_run_id == run_id else None


def resolve_source(store: Store, model: Inspected) -> Source:
    """Return the source, run id and logged-model id to register ``model`` with.

    Follows :func:`mlflow.register_model`: a logged model (``models:/m-<id>``, or a
    ``runs:/`` URI whose run holds no copy) registers its artifact location with
    its ``model_id``; a ``runs:/`` URI with artifacts registers them with the run
    id; ``models:/<name>/<version>`` or ``@alias`` registers that version's files;
    anything else (a local folder, ``s3:``...) is registered where it is.

    Raises:
        StoreUnavailableError, RegistrationError: the store failed.
    """
    located = model.located
    if located.kind == "run":
        assert located.run_id is not None
        with mlflow_errors(f"finding the files of {located.uri!r}", REGISTER):
            mlmodel_id = getattr(model.mlmodel, "model_id", None)
            logged = _logged_model_of_run(store, mlmodel_id, located.run_id)
            if logged is not None:
                return Source(logged.artifact_location, located.run_id, logged.model_id)
            root = store.client.get_run(located.run_id).info.artifact_uri
        path = parse_model_uri(located.uri).path or ""
        return Source(join_uri(root, path), located.run_id)
    if located.kind == "logged_model":
        return Source(located.location, located.run_id, located.model_id)
    if located.kind in ("version", "alias"):
        return Source(located.location, located.run_id)
    return Source(located.location)


__all__ = ["Inspected", "Source", "hash_model_files", "inspect_model", "resolve_source"]
