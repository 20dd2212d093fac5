"""The KIND ``MlflowRegister``: the MLflow Model Registry, idempotent by content, with aliases.

mlflow is imported inside the methods, never when this module is imported, so
that ``llmreg plugins`` stays fast.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from llmreg.bases import AliasRegister
from llmreg.errors import RegistrationError
from llmreg.hashing import CONTENT_HASH_KEY
from llmreg.uris import check_alias, check_model_name, check_registration, check_version
from llmreg_mlflow import history as audit
from llmreg_mlflow.content import Source, inspect_model, resolve_source
from llmreg_mlflow.errors import (
    ALREADY_EXISTS_CODES,
    NOT_FOUND_CODES,
    error_code,
    translated_errors,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

logger = logging.getLogger(__name__)

#: Seconds between two status polls while waiting for a version to be READY.
_POLL_S = 0.5
#: How many times a version creation is tried when the store reports a transient conflict.
_CREATE_ATTEMPTS = 5
#: How many times an alias is set again while concurrent moves keep changing the trail.
_SETTLE_ATTEMPTS = 50


class MlflowRegister(AliasRegister):
    """Registers saved models in the MLflow Model Registry, and moves aliases with an audit trail.

    Attributes:
        tags: tags set on every version this register creates.
        model_tags: tags set on the registered model, on every register call.
        description: description of the registered model, set on every register call.
        await_registration_for: seconds to wait for a new version to be READY (0: don't wait).
        tracking_uri: MLflow tracking URI; default MLflow's own (``MLFLOW_TRACKING_URI``...).
        registry_uri: MLflow registry URI; default ``tracking_uri`` when that is set,
            else MLflow's own (``MLFLOW_REGISTRY_URI``, then the tracking URI).
        history_limit: how many alias moves the audit trail keeps per alias.

    Example:
        >>> MlflowRegister(tags={"team": "nlp"}).KIND
        'MlflowRegister'
    """

    KIND: Literal["MlflowRegister"] = "MlflowRegister"

    model_tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    await_registration_for: int = Field(default=300, ge=0)
    tracking_uri: str | None = None
    registry_uri: str | None = None
    history_limit: int = Field(default=audit.DEFAULT_HISTORY_LIMIT, ge=1, le=1000)

    @field_validator("tags")
    @classmethod
    def _hash_tag_is_reserved(cls, tags: dict[str, str]) -> dict[str, str]:
        if CONTENT_HASH_KEY in tags:
            raise ValueError(f"the version tag {CONTENT_HASH_KEY!r} is set by the register")
        return tags

    # --- MLflow access -------------------------------------------------------

    def resolved_uris(self) -> tuple[str, str]:
        """Return the (tracking URI, registry URI) this register talks to."""
        import mlflow

        tracking = self.tracking_uri or mlflow.get_tracking_uri()
        registry = self.registry_uri or self.tracking_uri or mlflow.get_registry_uri()
        return tracking, registry

    def client(self) -> MlflowClient:
        """Return an :class:`mlflow.MlflowClient` on this register's URIs."""
        from mlflow import MlflowClient

        tracking, registry = self.resolved_uris()
        with translated_errors(f"opening the MLflow store {tracking!r}"):
            return MlflowClient(tracking_uri=tracking, registry_uri=registry)

    # --- register ------------------------------------------------------------

    def register(self, name: str, model_uri: str, *, force: bool = False) -> ModelVersion:
        """Register the model at ``model_uri`` under ``name``; return the READY version.

        The same content (same content hash) under the same name returns the
        existing version and creates none, unless ``force`` is true.

        Raises:
            RegistrationInputError: ``name`` or a tag breaks MLflow's rules (checked first,
                nothing is written); a :class:`RegistrationError`.
            RegistrationError: ``model_uri`` does not exist or is not a model (nothing is
                created), or the registry refused or failed.
            StoreUnavailableError: the store cannot be reached.
        """
        check_registration(name, None, self.tags, model_tags=self.model_tags)  # before any write
        if not isinstance(model_uri, str) or not model_uri.strip():
            raise RegistrationError(f"model_uri must be a non-empty string, got {model_uri!r}")
        client = self.client()
        saved = inspect_model(client, model_uri)
        action = f"registering {model_uri!r} as {name!r}"
        with translated_errors(action):
            source = resolve_source(client, model_uri, saved.mlmodel)
            created = self._ensure_registered_model(client, name)
            try:
                if not force and (found := self._find_by_hash(client, name, saved.content_hash)):
                    return self._wait_ready(client, self._apply_tags(client, found))
                version = self._create_version(client, name, source, saved.content_hash, force)
                if not force:
                    version = self._keep_first(client, version, saved.content_hash)
                return self._wait_ready(client, version)
            except BaseException:
                if created:
                    self._delete_if_empty(client, name)
                raise

    def _ensure_registered_model(self, client: MlflowClient, name: str) -> bool:
        """Create the registered model if missing; return whether this call created it."""
        from mlflow.exceptions import MlflowException

        try:
            client.create_registered_model(
                name, tags=self.model_tags or None, description=self.description
            )
            return True
        except MlflowException as exc:
            if error_code(exc) not in ALREADY_EXISTS_CODES:
                raise
        for key, value in self.model_tags.items():
            client.set_registered_model_tag(name, key, value)
        if self.description is not None:
            client.update_registered_model(name, description=self.description)
        return False

    def _find_by_hash(self, client: MlflowClient, name: str, digest: str) -> ModelVersion | None:
        found = client.search_model_versions(
            filter_string=f"name = '{name}' and tags.`{CONTENT_HASH_KEY}` = '{digest}'",
        )
        usable = [v for v in found if v.status != "FAILED_REGISTRATION"]
        return min(usable, key=lambda v: int(v.version)) if usable else None

    def _keep_first(self, client: MlflowClient, version: ModelVersion, digest: str) -> ModelVersion:
        """Return the first version of this content; delete ``version`` if it is a later one.

        Two writers registering the same content at the same moment both find
        no version of it, and both create one. Each then looks again and sees
        both: the later one deletes its own, so both return the first, and one
        version remains.
        """
        first = self._find_by_hash(client, version.name, digest)
        if first is None or int(first.version) >= int(version.version):
            return version
        client.delete_model_version(version.name, version.version)
        return self._apply_tags(client, first)

    def _apply_tags(self, client: MlflowClient, version: ModelVersion) -> ModelVersion:
        """Set this register's ``tags`` that ``version`` lacks or holds another value of.

        Returns the version as the registry now has it (``version`` itself when
        nothing had to change).
        """
        current = version.tags or {}
        missing = {k: v for k, v in self.tags.items() if current.get(k) != v}
        for key, value in missing.items():
            client.set_model_version_tag(version.name, version.version, key, value)
        if not missing:
            return version
        return client.get_model_version(version.name, version.version)

    def _create_version(
        self, client: MlflowClient, name: str, source: Source, digest: str, force: bool
    ) -> ModelVersion:
        """Create a version; retry a transient store conflict, unless it was created after all."""
        from mlflow.exceptions import MlflowException

        tags = {**self.tags, CONTENT_HASH_KEY: digest}
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                return client.create_model_version(
                    name,
                    source.source,
                    run_id=source.run_id,
                    tags=tags,
                    await_creation_for=0,
                    model_id=source.model_id,
                )
            except MlflowException as exc:
                if attempt == _CREATE_ATTEMPTS or not _is_transient(exc):
                    raise
            time.sleep(0.2 * attempt)
            if not force and (found := self._find_by_hash(client, name, digest)):
                return found
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self, client: MlflowClient, version: ModelVersion) -> ModelVersion:
        deadline = time.monotonic() + self.await_registration_for
        current = version
        while current.status != "READY":
            if current.status == "FAILED_REGISTRATION":
                client.delete_model_version(current.name, current.version)
                raise RegistrationError(
                    f"version {current.version} of {current.name!r} failed to register "
                    f"({current.status_message or 'no message'}); it was deleted"
                )
            if self.await_registration_for == 0:
                return current
            if time.monotonic() >= deadline:
                raise RegistrationError(
                    f"version {current.version} of {current.name!r} is still {current.status} "
                    f"after {self.await_registration_for} s; raise await_registration_for or "
                    "check the registry"
                )
            time.sleep(_POLL_S)
            current = client.get_model_version(current.name, current.version)
        return current

    def _delete_if_empty(self, client: MlflowClient, name: str) -> None:
        """Delete a registered model this call created, unless another writer added a version.

        Runs while another error propagates: a failure here is logged, not raised,
        so that the caller sees the error that made the registration fail.
        """
        from mlflow.exceptions import MlflowException
        from requests import RequestException

        try:
            if not client.search_model_versions(filter_string=f"name = '{name}'", max_results=1):
                client.delete_registered_model(name)
        except (MlflowException, RequestException, OSError) as exc:
            logger.warning(
                "registered model %r was created by a failed registration and could not be "
                "deleted (%s); delete it by hand if it stays empty",
                name,
                exc,
            )

    # --- aliases -------------------------------------------------------------

    def promote(self, name: str, version: int | str, alias: str = "champion") -> ModelVersion:
        """Point ``alias`` at ``version`` and record the move in the audit trail.

        Raises:
            ModelNotFoundError: the model or the version does not exist; the alias stays.
            InvalidModelURIError: ``version`` or ``alias`` is malformed.
        """
        name = check_model_name(name)
        number = check_version(version)
        alias = check_alias(alias)
        client = self.client()
        with translated_errors(f"promoting version {number} of {name!r} to @{alias}"):
            target = client.get_model_version(name, str(number))
            return self._move(client, name, alias, target, "promote")

    def rollback(self, name: str, alias: str = "champion") -> ModelVersion:
        """Point ``alias`` back at the version that held it before the latest promote.

        Works from any process: it reads the audit trail from the registry.

        Raises:
            RegistrationError: there is no earlier version to go back to, or it was deleted.
            ModelNotFoundError: the registered model does not exist.
        """
        from mlflow.exceptions import MlflowException

        name = check_model_name(name)
        alias = check_alias(alias)
        client = self.client()
        with translated_errors(f"rolling back @{alias} of {name!r}"):
            moves = self._trail(client, name, alias)
            target_number = audit.rollback_target([entry for _, entry in moves])
            if target_number is None:
                raise RegistrationError(
                    f"cannot roll back @{alias} of {name!r}: no earlier version is recorded "
                    "(promote a version first, or promote the one you want directly)"
                )
            try:
                target = client.get_model_version(name, str(target_number))
            except MlflowException as exc:
                if error_code(exc) not in NOT_FOUND_CODES:
                    raise
                raise RegistrationError(
                    f"cannot roll back @{alias} of {name!r} to version {target_number}: "
                    f"it no longer exists ({exc}); promote another version instead"
                ) from exc
            return self._move(client, name, alias, target, "rollback", moves)

    def _move(
        self,
        client: MlflowClient,
        name: str,
        alias: str,
        target: ModelVersion,
        action: str,
        moves: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> ModelVersion:
        """Record the move as its own tag, then set the alias to what the trail says.

        Concurrent moves never overwrite each other's record (one tag each), and
        :meth:`_settle` makes the alias agree with the whole trail, whichever
        writer sets it last.
        """
        previous = self._alias_version(client, name, alias)
        number = int(target.version)
        if action == "promote" and previous == number:
            return target
        if moves is None:
            moves = self._trail(client, name, alias)
        key = audit.new_move_key([k for k, _ in moves if k])
        value = audit.move_value(alias, version=number, previous=previous, action=action)
        client.set_registered_model_tag(name, key, value)
        self._settle(client, name, alias)
        self._prune(client, name, alias)
        return client.get_model_version(name, str(number))

    def _settle(self, client: MlflowClient, name: str, alias: str) -> None:
        """Set the alias to the trail's version, and again while the trail moved meanwhile.

        Every writer does this after recording its move, so the last alias write
        is checked against a trail read after it: once no writer is left, the
        alias holds the version the whole trail gives.
        """
        wanted = self._trail_version(client, name, alias)
        for _ in range(_SETTLE_ATTEMPTS):
            if wanted is None:
                return
            self._set_alias(client, name, alias, wanted)
            now = self._trail_version(client, name, alias)
            if now == wanted:
                return
            wanted = now
        logger.warning(
            "@%s of %r kept moving while it was set; the last writer sets it", alias, name
        )

    def _set_alias(self, client: MlflowClient, name: str, alias: str, version: int) -> None:
        """Set the alias; retry when a concurrent writer's insert of the same alias row won.

        The store inserts an alias row the first time an alias is set: two writers
        doing so at once make one of them fail on the unique constraint (or a busy
        sqlite file); once the row exists, setting it again updates it.
        """
        from mlflow.exceptions import MlflowException

        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                client.set_registered_model_alias(name, alias, str(version))
                return
            except MlflowException as exc:
                if attempt == _CREATE_ATTEMPTS or not _is_conflict(exc):
                    raise
            time.sleep(0.05 * attempt)

    def _trail_version(self, client: MlflowClient, name: str, alias: str) -> int | None:
        moves = self._trail(client, name, alias)
        return audit.replay([entry for _, entry in moves])[1] if moves else None

    def _prune(self, client: MlflowClient, name: str, alias: str) -> None:
        """Drop the moves of ``alias`` beyond ``history_limit`` (another writer may too)."""
        from mlflow.exceptions import MlflowException

        moves = self._trail(client, name, alias)
        old = audit.expired(moves, self.history_limit)
        if not old:
            return
        kept_legacy = [entry for key, entry in moves[len(old) :] if not key]
        if any(not key for key, _ in old):
            legacy = audit.history_tag(alias)
            if kept_legacy:
                client.set_registered_model_tag(name, legacy, audit.dump(kept_legacy))
            else:
                with contextlib.suppress(MlflowException):
                    client.delete_registered_model_tag(name, legacy)
        for key, _ in old:
            if key:
                with contextlib.suppress(MlflowException):
                    client.delete_registered_model_tag(name, key)

    def _alias_version(self, client: MlflowClient, name: str, alias: str) -> int | None:
        model = client.get_registered_model(name)
        holder = (model.aliases or {}).get(alias)
        return int(holder) if holder is not None else None

    def _trail(
        self, client: MlflowClient, name: str, alias: str
    ) -> list[tuple[str, dict[str, Any]]]:
        return audit.trail(client.get_registered_model(name).tags or {}, alias)

    def history(self, name: str, alias: str = "champion") -> list[dict[str, Any]]:
        """Return the recorded moves of ``alias``, oldest first.

        Each move is ``{"version", "previous", "at", "action"}`` (``at`` in UTC, ISO 8601);
        ``previous`` is the version before the move, as the whole trail gives it.

        Raises:
            ModelNotFoundError: the registered model does not exist.
        """
        name = check_model_name(name)
        alias = check_alias(alias)
        with translated_errors(f"reading the history of @{alias} of {name!r}"):
            moves = self._trail(self.client(), name, alias)
        return audit.replay([entry for _, entry in moves])[0]

    # --- listing -------------------------------------------------------------

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Return every version of ``name``, oldest first, with tags, aliases and content hash.

        Raises:
            ModelNotFoundError: the registered model does not exist.
        """
        name = check_model_name(name)
        client = self.client()
        with translated_errors(f"listing the versions of {name!r}"):
            model = client.get_registered_model(name)
            aliases: dict[int, list[str]] = {}
            for alias, holder in (model.aliases or {}).items():
                aliases.setdefault(int(holder), []).append(alias)
            rows = [
                _version_row(v, sorted(aliases.get(int(v.version), [])))
                for v in _all_versions(client, name)
            ]
        return sorted(rows, key=lambda row: row["version"])


def _version_row(version: ModelVersion, aliases: list[str]) -> dict[str, Any]:
    tags = dict(version.tags or {})
    return {
        "name": version.name,
        "version": int(version.version),
        "status": version.status,
        "aliases": aliases,
        "content_hash": tags.get(CONTENT_HASH_KEY),
        "tags": tags,
        "run_id": version.run_id,
        "source": version.source,
        "created_at": version.creation_timestamp,
        "description": version.description,
    }


def _all_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    out: list[ModelVersion] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(
            filter_string=f"name = '{name}'", max_results=1000, page_token=token
        )
        out.extend(page)
        token = page.token
        if not token:
            return out


def _is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "giving up after" in text


def _is_conflict(exc: BaseException) -> bool:
    """A lost race on a row another writer inserted at the same moment, or a busy store."""
    text = str(exc).lower()
    return (
        _is_transient(exc)
        or error_code(exc) in ALREADY_EXISTS_CODES
        or "unique constraint" in text
        or "integrityerror" in text
        or "duplicate key" in text
    )


__all__ = ["MlflowRegister"]
