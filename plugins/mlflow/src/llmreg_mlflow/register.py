"""The KIND ``MlflowRegister``: the MLflow Model Registry, idempotent by content, with aliases.

mlflow is imported inside the methods, never when this module is imported, so
that ``llmreg plugins`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from llmreg.bases import AliasRegister
from llmreg.errors import RegistrationError, RegistrationInputError
from llmreg.hashing import CONTENT_HASH_KEY
from llmreg.results import AliasMove, ModelVersionRef
from llmreg.uris import (
    check_alias,
    check_model_name,
    check_registration,
    check_version,
    uri_for_logged_model,
)
from llmreg_mlflow import history as audit
from llmreg_mlflow.content import Source, inspect_model, resolve_source
from llmreg_mlflow.store.errors import REGISTER, classify, mlflow_errors
from llmreg_mlflow.store.resolve import Store, open_store, store_uris

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from llmreg_mlflow.rest import RestRegistry

logger = logging.getLogger(__name__)

#: The MLmodel metadata key a llmreg saver writes the definition's description under.
DESCRIPTION_KEY = "llmreg_description"

#: Seconds between two status polls while waiting for a version to be READY.
_POLL_S = 0.5
#: How many times a version creation is tried when the store reports a transient conflict.
_CREATE_ATTEMPTS = 5
#: How many times an alias is set again while concurrent moves keep changing the trail.
_SETTLE_ATTEMPTS = 50


class MlflowRegister(AliasRegister):
    """Registers saved models in the MLflow Model Registry, and moves aliases with an audit trail.

    Tag values may be any JSON value; the register stores them as strings as MLflow's
    client does (``str(value)``: ``3`` -> ``"3"``, ``True`` -> ``"True"``, ``None`` ->
    ``"None"``), except that a list or object is stored as JSON (``["a"]`` ->
    ``'["a"]'``), which MLflow would store as Python's repr.

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

    @field_validator("tags", "model_tags", mode="before")
    @classmethod
    def _tag_values_as_strings(cls, tags: Any) -> Any:
        if not isinstance(tags, Mapping):
            return tags  # pydantic says what is wrong
        return {key: _tag_text(key, value) for key, value in tags.items()}

    @field_validator("tags")
    @classmethod
    def _hash_tag_is_reserved(cls, tags: dict[str, str]) -> dict[str, str]:
        if CONTENT_HASH_KEY in tags:
            raise ValueError(f"the version tag {CONTENT_HASH_KEY!r} is set by the register")
        return tags

    # --- MLflow access -------------------------------------------------------

    def resolved_uris(self) -> tuple[str, str]:
        """Return the (tracking URI, registry URI) this register talks to."""
        return store_uris(self.tracking_uri, self.registry_uri)

    def store(self) -> Store:
        """Return the MLflow store (URIs and client) this register talks to.

        Raises:
            StoreUnavailableError: it cannot be reached.
            ConfigError: MLflow does not support its URI.
        """
        return open_store(self.tracking_uri, self.registry_uri, REGISTER)

    def client(self) -> MlflowClient:
        """Return an :class:`mlflow.MlflowClient` on this register's URIs."""
        return self.store().client

    def _rest(self) -> RestRegistry | None:
        """The REST registry when this register talks to an ``http(s)://`` server, else
        ``None``: ``versions``, ``models``, ``history``, ``set_tags`` and ``describe`` then
        skip ``import mlflow`` (see :mod:`llmreg_mlflow.rest`)."""
        from llmreg_mlflow.rest import rest_registry

        return rest_registry(self.tracking_uri, self.registry_uri)

    # --- register ------------------------------------------------------------

    def register(self, name: str, model_uri: str, *, force: bool = False) -> ModelVersionRef:
        """Register the model at ``model_uri`` under ``name``; return the READY version.

        The same content (same content hash) under the same name returns the
        existing version (``created`` false) and creates none, unless ``force`` is true.

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
        store = self.store()
        client = store.client
        inspected = inspect_model(store, model_uri)
        digest = inspected.content_hash
        action = f"registering {model_uri!r} as {name!r}"
        with mlflow_errors(action, REGISTER):
            source = resolve_source(store, inspected)
            created_model = self._ensure_registered_model(client, name)
            try:
                if not force and (found := self._find_by_hash(client, name, digest)):
                    return _version_ref(
                        self._wait_ready(client, self._apply_tags(client, found)), created=False
                    )
                description = (inspected.mlmodel.metadata or {}).get(DESCRIPTION_KEY)
                version, created = self._create_version(
                    client, name, source, digest, force, description=description
                )
                if created and not force:
                    version, created = self._keep_first(client, version, digest)
                return _version_ref(self._wait_ready(client, version), created=created)
            except BaseException:
                if created_model:
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
            if classify(exc) != "conflict":
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

    def _keep_first(
        self, client: MlflowClient, version: ModelVersion, digest: str
    ) -> tuple[ModelVersion, bool]:
        """Return the first version of this content, and whether it is ``version`` (which
        this call created); delete ``version`` if it is a later one.

        Two writers registering the same content at the same moment both find
        no version of it, and both create one. Each then looks again and sees
        both: the later one deletes its own, so both return the first, and one
        version remains.
        """
        first = self._find_by_hash(client, version.name, digest)
        if first is None or int(first.version) >= int(version.version):
            return version, True
        client.delete_model_version(version.name, version.version)
        return self._apply_tags(client, first), False

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
        self,
        client: MlflowClient,
        name: str,
        source: Source,
        digest: str,
        force: bool,
        description: str | None = None,
    ) -> tuple[ModelVersion, bool]:
        """Create a version; retry a transient store conflict, unless it was created after all.

        Like :func:`mlflow.register_model`, a logged model is registered with the source
        ``models:/<model_id>`` and gets the version in its ``mlflow.modelVersions`` tag.
        ``description`` (the saved definition's) becomes the version's description.

        Returns the version and whether this call created it.
        """
        from mlflow.exceptions import MlflowException

        tags = {**self.tags, CONTENT_HASH_KEY: digest}
        uri = source.source
        if source.model_id and self._store_is_mlflows_default():
            # MLflow's sqlalchemy registry resolves a models:/ source through the default
            # tracking URI: with explicit URIs elsewhere, the artifact location is given.
            uri = uri_for_logged_model(source.model_id)
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                created = client.create_model_version(
                    name,
                    uri,
                    run_id=source.run_id,
                    tags=tags,
                    description=description if isinstance(description, str) else None,
                    await_creation_for=0,
                    model_id=source.model_id,
                )
                if source.model_id:
                    _link_version(client, source.model_id, name, str(created.version))
                return created, True
            except MlflowException as exc:
                if attempt == _CREATE_ATTEMPTS or not _is_transient(exc):
                    raise
            time.sleep(0.2 * attempt)
            if not force and (found := self._find_by_hash(client, name, digest)):
                return found, False
        raise AssertionError("unreachable")  # pragma: no cover

    def _store_is_mlflows_default(self) -> bool:
        import mlflow

        tracking, registry = self.resolved_uris()
        return tracking == mlflow.get_tracking_uri() and registry == mlflow.get_registry_uri()

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

    def promote(
        self, name: str, version: int | str, alias: str = "champion", *, note: str | None = None
    ) -> AliasMove:
        """Point ``alias`` at ``version`` and record the move in the audit trail.

        Promoting the version the alias already points at records nothing and
        returns a move whose ``previous`` equals its ``version``.

        Args:
            note: why, stored with the move (``llmreg promote --require`` passes the
                check's decision with its numbers); :meth:`history` returns it.

        Raises:
            ModelNotFoundError: the model or the version does not exist; the alias stays.
            InvalidModelURIError: ``version`` or ``alias`` is malformed.
        """
        name = check_model_name(name)
        number = check_version(version)
        alias = check_alias(alias)
        if (rest := self._rest()) is not None:
            return rest.promote(name, number, alias, self.history_limit, note=note)
        client = self.client()
        with mlflow_errors(f"promoting version {number} of {name!r} to @{alias}", REGISTER):
            target = client.get_model_version(name, str(number))
            return self._move(client, name, alias, target, "promote", note=note)

    def rollback(self, name: str, alias: str = "champion") -> AliasMove:
        """Point ``alias`` back at the version that held it before the latest promote.

        Works from any process: it reads the audit trail from the registry.

        Raises:
            RegistrationError: there is no earlier version to go back to, or it was deleted.
            ModelNotFoundError: the registered model does not exist.
        """
        name = check_model_name(name)
        alias = check_alias(alias)
        if (rest := self._rest()) is not None:
            return rest.rollback(name, alias, self.history_limit)
        from mlflow.exceptions import MlflowException

        client = self.client()
        with mlflow_errors(f"rolling back @{alias} of {name!r}", REGISTER):
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
                if classify(exc) != "not_found":
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
        action: Literal["promote", "rollback"],
        moves: list[tuple[str, dict[str, Any]]] | None = None,
        note: str | None = None,
    ) -> AliasMove:
        """Record the move as its own tag, then set the alias to what the trail says.

        Concurrent moves never overwrite each other's record (one tag each), and
        :meth:`_settle` makes the alias agree with the whole trail, whichever
        writer sets it last.
        """
        previous = self._alias_version(client, name, alias)
        number = int(target.version)
        if action == "promote" and previous == number:
            return AliasMove(name, alias, number, previous, action)
        if moves is None:
            moves = self._trail(client, name, alias)
        key = audit.new_move_key([k for k, _ in moves if k])
        value = audit.move_value(alias, version=number, previous=previous, action=action, note=note)
        client.set_registered_model_tag(name, key, value)
        self._settle(client, name, alias)
        self._prune(client, name, alias)
        return audit.move_of(name, value)

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

    def history(self, name: str, alias: str = "champion") -> list[AliasMove]:
        """Return the recorded moves of ``alias``, oldest first.

        Each move has ``version``, ``previous``, ``action`` and ``at`` (UTC, ISO 8601);
        ``previous`` is the version before the move, as the whole trail gives it;
        ``by`` and ``note`` (a checked promote's decision) where recorded.

        Raises:
            ModelNotFoundError: the registered model does not exist.
        """
        name = check_model_name(name)
        alias = check_alias(alias)
        if (rest := self._rest()) is not None:
            return rest.history(name, alias)
        tag = audit.history_tag(alias)
        with mlflow_errors(f"reading the history of @{alias} of {name!r}", REGISTER):
            moves = self._trail(self.client(), name, alias)
        entries = audit.replay([entry for _, entry in moves])[0]
        return [_alias_move(name, alias, entry, tag) for entry in entries]

    # --- registered-model tags and notes (llmreg-gateway's rollouts) --------------

    def read_model_tags(self, name: str) -> dict[str, str]:
        """Return the tags of the registered model ``name``.

        Raises:
            ModelNotFoundError: the registered model does not exist.
        """
        name = check_model_name(name)
        if (rest := self._rest()) is not None:
            return rest.model_tags(name)
        with mlflow_errors(f"reading the tags of {name!r}", REGISTER):
            model = self.client().get_registered_model(name)
        return {str(k): str(v) for k, v in (model.tags or {}).items()}

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        """Set the tag ``key`` of the registered model ``name`` to ``value``.

        Raises:
            ModelNotFoundError: the registered model does not exist.
            RegistrationInputError: the key breaks MLflow's rules.
        """
        name = check_model_name(name)
        check_registration(name, None, None, model_tags={key: value})
        if (rest := self._rest()) is not None:
            rest.set_model_tag(name, key, value)
            return
        from mlflow.exceptions import MlflowException

        client = self.client()
        with mlflow_errors(f"tagging {name!r}", REGISTER):
            # a tag's first write inserts its row: two writers at once make one of them
            # fail on the unique constraint; once the row exists, writing it updates it
            for attempt in range(1, _CREATE_ATTEMPTS + 1):
                try:
                    client.set_registered_model_tag(name, key, value)
                    return
                except MlflowException as exc:
                    if attempt == _CREATE_ATTEMPTS or not _is_conflict(exc):
                        raise
                time.sleep(0.05 * attempt)

    def note_alias(self, name: str, alias: str, note: str) -> AliasMove:
        """Record ``note`` in the trail of ``alias`` as a ``"note"`` entry; the alias stays.

        Raises:
            ModelNotFoundError: the registered model does not exist.
            RegistrationError: the alias points at no version.
        """
        name = check_model_name(name)
        alias = check_alias(alias)
        if (rest := self._rest()) is not None:
            return rest.note_alias(name, alias, note, self.history_limit)
        client = self.client()
        with mlflow_errors(f"noting @{alias} of {name!r}", REGISTER):
            current = self._alias_version(client, name, alias)
            if current is None:
                raise RegistrationError(
                    f"@{alias} of {name!r} points at no version: promote one first"
                )
            moves = self._trail(client, name, alias)
            key = audit.new_move_key([k for k, _ in moves if k])
            value = audit.move_value(
                alias, version=current, previous=current, action="note", note=note
            )
            client.set_registered_model_tag(name, key, value)
            self._prune(client, name, alias)
        return audit.move_of(name, value)

    # --- listing -------------------------------------------------------------

    def versions(self, name: str) -> list[ModelVersionRef]:
        """Return every version of ``name``, oldest first, with tags, aliases and content hash.

        ``created`` is false on every one (no version is created by listing).

        Raises:
            ModelNotFoundError: the registered model does not exist.
        """
        name = check_model_name(name)
        if (rest := self._rest()) is not None:
            return rest.versions(name)
        client = self.client()
        with mlflow_errors(f"listing the versions of {name!r}", REGISTER):
            model = client.get_registered_model(name)
            aliases: dict[int, list[str]] = {}
            for alias, holder in (model.aliases or {}).items():
                aliases.setdefault(int(holder), []).append(alias)
            refs = [
                _version_ref(v, created=False, aliases=aliases.get(int(v.version), []))
                for v in _all_versions(client, name)
            ]
        return sorted(refs, key=lambda ref: ref.version)

    # --- the registry workflow (llmreg list, tag, describe, delete) ---------------

    def models(self) -> list[dict[str, Any]]:
        """Return every registered model: name, latest version, aliases, description, tags.

        Sorted by name.
        """
        if (rest := self._rest()) is not None:
            return rest.models()
        client = self.client()
        out: list[dict[str, Any]] = []
        with mlflow_errors("listing the registered models", REGISTER):
            token: str | None = None
            while True:
                page = client.search_registered_models(max_results=1000, page_token=token)
                for model in page:
                    numbers = [int(v.version) for v in (model.latest_versions or [])]
                    out.append(
                        {
                            "name": model.name,
                            "latest_version": max(numbers) if numbers else None,
                            "aliases": {a: int(v) for a, v in (model.aliases or {}).items()},
                            "description": model.description or None,
                            "tags": {
                                k: v
                                for k, v in (model.tags or {}).items()
                                if not k.startswith(
                                    (audit.HISTORY_TAG_PREFIX, audit.MOVE_TAG_PREFIX)
                                )
                            },
                        }
                    )
                token = page.token
                if not token:
                    break
        return sorted(out, key=lambda m: m["name"])

    def set_tags(self, name: str, version: int | str, tags: Mapping[str, str]) -> ModelVersionRef:
        """Set ``tags`` on version ``version`` of ``name`` (other tags kept); return it.

        Values that are not strings are stored as :attr:`tags` are (``str()``, JSON for a
        list or object).

        Raises:
            ModelNotFoundError: the version does not exist.
            RegistrationInputError: a key is the reserved content-hash key, or malformed.
        """
        name = check_model_name(name)
        number = check_version(version)
        texts = {str(k): _tag_text(k, v) for k, v in dict(tags).items()}
        if CONTENT_HASH_KEY in texts:
            raise RegistrationInputError(
                f"the version tag {CONTENT_HASH_KEY!r} is set by the register"
            )
        check_registration(name, None, texts)
        if (rest := self._rest()) is not None:
            return rest.set_tags(name, number, texts)
        client = self.client()
        with mlflow_errors(f"tagging version {number} of {name!r}", REGISTER):
            client.get_model_version(name, str(number))
            for key, value in texts.items():
                client.set_model_version_tag(name, str(number), key, value)
            return self._ref(client, name, number)

    def describe(self, name: str, version: int | str, description: str) -> ModelVersionRef:
        """Set the description of version ``version`` of ``name``; return it.

        Raises:
            ModelNotFoundError: the version does not exist.
        """
        name = check_model_name(name)
        number = check_version(version)
        if (rest := self._rest()) is not None:
            return rest.describe(name, number, str(description))
        client = self.client()
        with mlflow_errors(f"describing version {number} of {name!r}", REGISTER):
            client.update_model_version(name, str(number), description=str(description))
            return self._ref(client, name, number)

    def delete(self, name: str, version: int | str, *, force: bool = False) -> ModelVersionRef:
        """Delete version ``version`` of ``name``; return what it was.

        Refused while an alias points at it unless ``force``: then its aliases are
        deleted with it (their audit trail stays).

        Raises:
            ModelNotFoundError: the version does not exist.
            RegistrationError: an alias points at it and ``force`` is false.
        """
        from llmreg_mlflow.rest import check_deletable

        name = check_model_name(name)
        number = check_version(version)
        if (rest := self._rest()) is not None:
            return rest.delete(name, number, force=force)
        client = self.client()
        with mlflow_errors(f"deleting version {number} of {name!r}", REGISTER):
            ref = self._ref(client, name, number)
            check_deletable(ref, force)
            for alias in ref.aliases:
                client.delete_registered_model_alias(name, alias)
            client.delete_model_version(name, str(number))
        return ref

    def _ref(self, client: MlflowClient, name: str, number: int) -> ModelVersionRef:
        """Version ``number`` of ``name`` as a ref, with the aliases that point at it."""
        found = client.get_model_version(name, str(number))
        model = client.get_registered_model(name)
        aliases = [a for a, v in (model.aliases or {}).items() if int(v) == number]
        return _version_ref(found, created=False, aliases=aliases)


def _link_version(client: MlflowClient, model_id: str, name: str, version: str) -> None:
    """Add ``{name, version}`` to the logged model's ``mlflow.modelVersions`` tag, as
    :func:`mlflow.register_model` does (an ``mlflow server`` may have added it already)."""
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    entry = {"name": name, "version": version}
    current = client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS)
    try:
        links = json.loads(current) if current else []
    except ValueError:
        links = []
    if not isinstance(links, list):
        links = []
    if any(
        isinstance(e, dict) and e.get("name") == name and str(e.get("version")) == version
        for e in links
    ):
        return  # an mlflow server links it itself (with the version as a number)
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps([*links, entry])})


def _tag_text(key: Any, value: Any) -> str:
    """Return a tag value as MLflow's client stores it: ``str(value)`` for a string,
    number, boolean or null (``True`` -> ``"True"``), JSON for a list or object.

    Raises:
        ValueError: the value is not JSON (pydantic reports it as a validation error).
    """
    if value is None or isinstance(value, str | int | float | bool):
        return str(value)
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        raise ValueError(
            f"tag {key!r} has a value of type {type(value).__name__}, which is not JSON: "
            "give a string, number, boolean, null, list or object"
        ) from None


def _version_ref(
    version: ModelVersion, *, created: bool, aliases: list[str] | None = None
) -> ModelVersionRef:
    """Return MLflow's ``ModelVersion`` as a :class:`~llmreg.results.ModelVersionRef`.

    ``aliases`` overrides the version's own list (a search does not fill it in).
    """
    tags = {str(k): str(v) for k, v in (version.tags or {}).items()}
    held = aliases if aliases is not None else list(getattr(version, "aliases", None) or [])
    return ModelVersionRef(
        name=version.name,
        version=int(version.version),
        created=created,
        tags=tags,
        aliases=tuple(sorted(held)),
        source=version.source or None,
        run_id=version.run_id or None,
        content_hash=tags.get(CONTENT_HASH_KEY),
        status=str(version.status) if version.status is not None else None,
        description=version.description or None,
        created_at=version.creation_timestamp,
    )


def _alias_move(name: str, alias: str, entry: dict[str, Any], tag: str) -> AliasMove:
    """Return one audit-trail entry as an :class:`~llmreg.results.AliasMove`.

    Raises:
        RegistrationError: the entry is not a move (a hand-edited tag).
    """
    action = entry.get("action")
    version = entry.get("version")
    previous = entry.get("previous")
    if (
        action not in ("promote", "rollback", "note")
        or not isinstance(version, int)
        or not (previous is None or isinstance(previous, int))
    ):
        raise RegistrationError(
            f"the registered-model tag {tag!r} holds an entry that is not a move ({entry!r}); "
            "delete the tag to start a fresh history"
        )
    return AliasMove(
        name=name,
        alias=alias,
        version=version,
        previous=previous,
        action=action,
        at=entry.get("at"),
        by=entry.get("by"),
        note=entry.get("note"),
    )


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
        or classify(exc) == "conflict"
        or "unique constraint" in text
        or "integrityerror" in text
        or "duplicate key" in text
    )


__all__ = ["MlflowRegister"]
