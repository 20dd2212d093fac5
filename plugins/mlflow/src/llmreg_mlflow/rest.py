"""The registry over MLflow's public REST API, without importing mlflow.

``import mlflow`` costs seconds; against a tracking server (``http://`` or
``https://``), :class:`~llmreg_mlflow.register.MlflowRegister` answers
``versions``, ``models``, ``history``, ``set_tags``, ``describe``, ``promote`` and
``rollback`` (the same audit trail, one registered-model tag per move) through
:class:`RestRegistry` instead, which speaks the documented endpoints
(``/api/2.0/mlflow/registered-models/...``, ``/model-versions/...``) with the
standard library's ``http.client`` on one kept-alive connection.

It reads MLflow's own settings: ``MLFLOW_TRACKING_TOKEN`` (a bearer token),
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic auth),
``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_HTTP_REQUEST_TIMEOUT``. Set
``LLMREG_MLFLOW_REST=0`` to use MLflow's client for everything.

Errors are llmreg's: ``RESOURCE_DOES_NOT_EXIST`` (or HTTP 404) is
:class:`~llmreg.errors.ModelNotFoundError`, a refused request
:class:`~llmreg.errors.RegistrationInputError`, an unreachable server or a 5xx
:class:`~llmreg.errors.StoreUnavailableError`; an answer that is not MLflow's shape, or
pages that never end, :class:`~llmreg_mlflow.rest_shapes.RegistryAnswerError` (one).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

from llmreg.errors import (
    ModelNotFoundError,
    RegistrationError,
    RegistrationInputError,
    StoreUnavailableError,
)
from llmreg.hashing import CONTENT_HASH_KEY
from llmreg.results import AliasMove, ModelVersionRef
from llmreg.secrets import mask_userinfo
from llmreg.uris import check_alias, check_model_name
from llmreg_mlflow.rest_shapes import Pages, answer_error, objects, reading, whole_number

#: Set to ``0`` (or ``false``) to make MlflowRegister use MLflow's client over HTTP too.
REST_ENV = "LLMREG_MLFLOW_REST"
API = "/api/2.0/mlflow"
_PAGE = 1000

_clients: dict[str, RestRegistry] = {}
_clients_lock = threading.Lock()


def rest_uri(tracking_uri: str | None = None, registry_uri: str | None = None) -> str | None:
    """The registry's ``http(s)://`` URI, when the register talks to a server; else ``None``.

    The registry URI is chosen as :func:`llmreg_mlflow.store.resolve.store_uris` does:
    the register's own, else its tracking URI, else ``MLFLOW_REGISTRY_URI``, else
    ``MLFLOW_TRACKING_URI``.
    """
    if os.environ.get(REST_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    uri = (
        registry_uri
        or tracking_uri
        or os.environ.get("MLFLOW_REGISTRY_URI")
        or os.environ.get("MLFLOW_TRACKING_URI")
    )
    if uri and uri.lower().startswith(("http://", "https://")):
        return uri
    return None


def rest_registry(
    tracking_uri: str | None = None, registry_uri: str | None = None
) -> RestRegistry | None:
    """The process's :class:`RestRegistry` for the registry URI, or ``None`` (not a server)."""
    uri = rest_uri(tracking_uri, registry_uri)
    if uri is None:
        return None
    with _clients_lock:
        if uri not in _clients:
            _clients[uri] = RestRegistry(uri)
        return _clients[uri]


def check_deletable(ref: ModelVersionRef, force: bool) -> None:
    """Refuse to delete a version an alias points at, unless ``force`` (MlflowRegister's
    rule on either path).

    Raises:
        RegistrationError: an alias points at it and ``force`` is false.
    """
    if ref.aliases and not force:
        held = ", ".join(f"@{a}" for a in ref.aliases)
        raise RegistrationError(
            f"version {ref.version} of {ref.name!r} is held by {held}: promote another "
            "version first, or pass --force to delete it with its aliases"
        )


def _tags(items: Any) -> dict[str, str]:
    """MLflow's ``[{"key": .., "value": ..}]`` as a dict; another shape raises TypeError."""
    tags = objects({"tags": items}, "tags")
    return {str(t["key"]): str(t.get("value", "")) for t in tags}


def _aliases(items: Any) -> dict[str, int]:
    """MLflow's ``[{"alias": .., "version": ..}]`` as a dict; another shape raises TypeError."""
    aliases = objects({"aliases": items}, "aliases")
    return {str(a["alias"]): whole_number(a["version"], "version") for a in aliases}


def version_ref(data: Mapping[str, Any], aliases: list[str] | None = None) -> ModelVersionRef:
    """An MLflow ``ModelVersion`` JSON object as a :class:`~llmreg.results.ModelVersionRef`."""
    tags = _tags(data.get("tags"))
    held = aliases if aliases is not None else [str(a) for a in data.get("aliases") or []]
    created = data.get("creation_timestamp")
    if not isinstance(data["name"], str):
        raise TypeError("'name' is not a string")
    return ModelVersionRef(
        name=data["name"],
        version=whole_number(data["version"], "version"),
        created=False,
        tags=tags,
        aliases=tuple(sorted(held)),
        source=data.get("source") or None,
        run_id=data.get("run_id") or None,
        content_hash=tags.get(CONTENT_HASH_KEY),
        status=data.get("status"),
        description=data.get("description") or None,
        created_at=whole_number(created, "creation_timestamp") if created is not None else None,
    )


class RestRegistry:
    """MLflow's model registry over its REST API, on one kept-alive connection.

    Args:
        uri: the tracking (or registry) server, ``http(s)://host[:port][/prefix]``.
    """

    def __init__(self, uri: str) -> None:
        parts = urllib.parse.urlsplit(uri)
        self.uri = uri
        self.shown = mask_userinfo(uri)
        self._https = parts.scheme.lower() == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = parts.username or os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = parts.password or os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif user and password:
            pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        self._timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or 30)
        #: kept-alive connections not in use; a request takes one (or opens one) and
        #: gives it back, so that requests from several threads run at once
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RestRegistry({self.shown})"

    # --- HTTP ------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            context = ssl.create_default_context()
            if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """Send one request to ``API + endpoint``; return the JSON answer.

        A request on a kept-alive connection that the server closed meanwhile is
        sent again once on a new connection.

        Raises:
            ModelNotFoundError: the server answered ``RESOURCE_DOES_NOT_EXIST`` or 404.
            RegistrationInputError: the server refused the request (another 4xx).
            StoreUnavailableError: it cannot be reached, or answered 5xx or no JSON.
        """
        path = f"{self._prefix}{API}/{endpoint}"
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        payload = json.dumps(body).encode() if body is not None else None
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        for attempt in (1, 2):
            try:
                if connection is None:
                    connection = self._connect()
                connection.request(method, path, body=payload, headers=self._headers)
                response = connection.getresponse()
                status, raw = response.status, response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                if connection is not None:
                    connection.close()
                connection = None
                if attempt == 2 or isinstance(exc, TimeoutError | ConnectionRefusedError):
                    raise StoreUnavailableError(
                        f"the MLflow server at {self.shown} cannot be reached "
                        f"({type(exc).__name__}: {exc}). Check that the tracking server "
                        "runs and that MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI (or the "
                        "component's tracking_uri / registry_uri) point at it"
                    ) from None
        if connection is not None:  # kept for the next request
            with self._lock:
                self._idle.append(connection)
        return self._answer(method, endpoint, status, raw)

    def _answer(self, method: str, endpoint: str, status: int, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = None
        what = f"{method} {endpoint} at {self.shown}"
        if status < 300 and isinstance(data, dict):
            return data
        if 200 <= status < 300:
            shape = "no JSON" if data is None else f"a JSON {type(data).__name__}, not an object"
            raise answer_error(self.shown, f"{method} {endpoint}", shape)
        detail = data if isinstance(data, dict) else {}
        code = str(detail.get("error_code", ""))
        message = str(detail.get("message") or raw[:200].decode("utf-8", "replace"))
        if code == "RESOURCE_DOES_NOT_EXIST" or status == 404:
            raise ModelNotFoundError(f"{message} ({what})")
        if 400 <= status < 500:
            raise RegistrationInputError(
                f"MLflow refused {what} (HTTP {status}, {code}): {message}"
            )
        raise StoreUnavailableError(
            f"the MLflow server failed {what} (HTTP {status}): {message[:200]}"
        )

    def close(self) -> None:
        """Close the kept-alive connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # --- the registry ------------------------------------------------------------

    def registered_model(self, name: str) -> dict[str, Any]:
        """The registered model's JSON object (``aliases``, ``tags``, ``latest_versions``...).

        Raises:
            ModelNotFoundError: it does not exist (named).
        """
        try:
            data = self.call("GET", "registered-models/get", query={"name": name})
        except ModelNotFoundError:
            raise ModelNotFoundError(
                f"registered model {name!r} does not exist in {self.shown}: check the name, "
                "or register it first"
            ) from None
        model = data.get("registered_model")
        with reading(self.shown, "registered-models/get"):
            if not isinstance(model, dict):
                raise TypeError(f"no 'registered_model' object for {name!r}")
            _tags(model.get("tags"))  # what callers read, checked once here
            _aliases(model.get("aliases"))
            objects(model, "latest_versions")
        return model

    def versions(self, name: str) -> list[ModelVersionRef]:
        """Every version of ``name``, oldest first, with tags, aliases and content hash.

        The registered model (its aliases; a missing model is named) and the first page
        of versions are asked for at once, on two connections.
        """
        escaped = name.replace("\\", "\\\\").replace("'", "\\'")
        query = {"filter": f"name='{escaped}'", "max_results": _PAGE}
        first: dict[str, Any] = {}

        def search() -> None:
            try:
                first["page"] = self.call("GET", "model-versions/search", query=query)
            except Exception as exc:  # handed to the caller below
                first["error"] = exc

        thread = threading.Thread(target=search, name="llmreg-rest-search", daemon=True)
        thread.start()
        try:
            model = self.registered_model(name)
        finally:
            thread.join()
        if "error" in first:
            raise first["error"]
        held: dict[int, list[str]] = {}
        for alias, version in _aliases(model.get("aliases")).items():
            held.setdefault(version, []).append(alias)
        refs: list[ModelVersionRef] = []
        page: dict[str, Any] = first["page"]
        pages = Pages(self.shown, "model-versions/search")
        while True:
            with reading(self.shown, "model-versions/search"):
                for item in objects(page, "model_versions"):
                    number = whole_number(item.get("version"), "version")
                    refs.append(version_ref(item, held.get(number, [])))
            token = pages.next_token(page)
            if token is None:
                break
            page = self.call("GET", "model-versions/search", query={**query, "page_token": token})
        return sorted(refs, key=lambda ref: ref.version)

    def version(self, name: str, version: int) -> ModelVersionRef:
        """Version ``version`` of ``name``, with the aliases that point at it."""
        try:
            data = self.call(
                "GET", "model-versions/get", query={"name": name, "version": str(version)}
            )
        except ModelNotFoundError:
            self.registered_model(name)  # names the model when it is the model that is missing
            raise ModelNotFoundError(
                f"version {version} of registered model {name!r} does not exist in {self.shown}"
            ) from None
        aliases = _aliases(self.registered_model(name).get("aliases"))
        with reading(self.shown, "model-versions/get"):
            found = data["model_version"]
            if not isinstance(found, dict):
                raise TypeError("'model_version' is not an object")
            return version_ref(found, [a for a, v in aliases.items() if v == version])

    def models(self) -> list[dict[str, Any]]:
        """Every registered model: name, latest version, aliases, description, tags."""
        from llmreg_mlflow.history import HISTORY_TAG_PREFIX, MOVE_TAG_PREFIX

        out: list[dict[str, Any]] = []
        token: str | None = None
        pages = Pages(self.shown, "registered-models/search")
        while True:
            page = self.call(
                "GET", "registered-models/search", query={"max_results": _PAGE, "page_token": token}
            )
            with reading(self.shown, "registered-models/search"):
                for model in objects(page, "registered_models"):
                    numbers = [
                        whole_number(v["version"], "version")
                        for v in objects(model, "latest_versions")
                    ]
                    if not isinstance(model["name"], str):
                        raise TypeError("'name' is not a string")
                    tags = _tags(model.get("tags"))
                    out.append(
                        {
                            "name": model["name"],
                            "latest_version": max(numbers) if numbers else None,
                            "aliases": _aliases(model.get("aliases")),
                            "description": model.get("description") or None,
                            "tags": {
                                k: v
                                for k, v in tags.items()
                                if not k.startswith((HISTORY_TAG_PREFIX, MOVE_TAG_PREFIX))
                            },
                        }
                    )
            token = pages.next_token(page)
            if token is None:
                break
        return sorted(out, key=lambda m: str(m["name"]))

    def history(self, name: str, alias: str) -> list[AliasMove]:
        """The recorded moves of ``alias`` of ``name``, oldest first (the register's trail)."""
        from llmreg_mlflow import history as audit
        from llmreg_mlflow.register import _alias_move

        tags = _tags(self.registered_model(name).get("tags"))
        moves = audit.trail(tags, alias)
        entries = audit.replay([entry for _, entry in moves])[0]
        tag = audit.history_tag(alias)
        return [_alias_move(name, alias, entry, tag) for entry in entries]

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> ModelVersionRef:
        """Set each tag on version ``version`` of ``name``; return the version."""
        self.version(name, version)
        for key, value in tags.items():
            self.call(
                "POST",
                "model-versions/set-tag",
                body={"name": name, "version": str(version), "key": key, "value": value},
            )
        return self.version(name, version)

    def model_tags(self, name: str) -> dict[str, str]:
        """The tags of the registered model ``name``."""
        return _tags(self.registered_model(name).get("tags"))

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        """Set one tag of the registered model ``name``; retry when a concurrent first
        insert of the same tag row won (as :meth:`_set_alias`)."""
        body = {"name": name, "key": key, "value": value}
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                self.call("POST", "registered-models/set-tag", body=body)
                return
            except (RegistrationInputError, StoreUnavailableError) as exc:
                text = str(exc).lower()
                conflict = "unique" in text or "locked" in text or "already exists" in text
                if attempt == _CREATE_ATTEMPTS or not conflict:
                    raise
            time.sleep(0.05 * attempt)

    def note_alias(self, name: str, alias: str, note: str, history_limit: int) -> AliasMove:
        """Record ``note`` in the trail of ``alias`` without moving it (as MlflowRegister)."""
        from llmreg_mlflow import history as audit

        model = self.registered_model(name)
        current = _aliases(model.get("aliases")).get(alias)
        if current is None:
            raise RegistrationError(f"@{alias} of {name!r} points at no version: promote one first")
        moves = audit.trail(_tags(model.get("tags")), alias)
        key = audit.new_move_key([k for k, _ in moves if k])
        value = audit.move_value(alias, version=current, previous=current, action="note", note=note)
        self.set_model_tag(name, key, value)
        self._prune(name, alias, history_limit)
        return audit.move_of(name, value)

    def describe(self, name: str, version: int, description: str) -> ModelVersionRef:
        """Set the description of version ``version`` of ``name``; return the version."""
        self.version(name, version)
        self.call(
            "PATCH",
            "model-versions/update",
            body={"name": name, "version": str(version), "description": description},
        )
        return self.version(name, version)

    def alias_version(self, name: str, alias: str) -> int:
        """The version ``alias`` of ``name`` points at now (one request).

        Raises:
            ModelNotFoundError: the registered model or the alias does not exist (named).
        """
        try:
            data = self.call("GET", "registered-models/alias", query={"name": name, "alias": alias})
        except (ModelNotFoundError, RegistrationInputError):
            # MLflow answers an unknown alias with INVALID_PARAMETER_VALUE, not NOT_FOUND
            self.registered_model(name)  # names the model when it is the model that is missing
            raise ModelNotFoundError(
                f"alias @{alias} of registered model {name!r} does not exist: "
                "set it (promote a version) first"
            ) from None
        with reading(self.shown, "registered-models/alias"):
            found = data["model_version"]
            if not isinstance(found, dict):
                raise TypeError("'model_version' is not an object")
            return whole_number(found["version"], "version")

    def delete(self, name: str, version: int, force: bool = False) -> ModelVersionRef:
        """Delete version ``version`` of ``name`` as MlflowRegister does; return what it was.

        Raises:
            ModelNotFoundError: the version does not exist.
            RegistrationError: an alias points at it and ``force`` is false.
        """
        ref = self.version(name, version)
        check_deletable(ref, force)
        for alias in ref.aliases:
            self.call("DELETE", "registered-models/alias", body={"name": name, "alias": alias})
        self.call("DELETE", "model-versions/delete", body={"name": name, "version": str(version)})
        return ref

    # --- alias moves (the register's trail: one registered-model tag per move) -------

    def promote(
        self, name: str, version: int, alias: str, history_limit: int, note: str | None = None
    ) -> AliasMove:
        """Point ``alias`` at ``version``, recording the move (and ``note``) as
        MlflowRegister does."""
        self.version(name, version)  # a missing model or version is named; the alias stays
        return self._move(name, alias, version, "promote", history_limit, note=note)

    def rollback(self, name: str, alias: str, history_limit: int) -> AliasMove:
        """Point ``alias`` back at the version before the latest promote.

        Raises:
            RegistrationError: no earlier version is recorded, or it was deleted.
        """
        from llmreg_mlflow import history as audit

        moves = audit.trail(_tags(self.registered_model(name).get("tags")), alias)
        target = audit.rollback_target([entry for _, entry in moves])
        if target is None:
            raise RegistrationError(
                f"cannot roll back @{alias} of {name!r}: no earlier version is recorded "
                "(promote a version first, or promote the one you want directly)"
            )
        try:
            self.version(name, target)
        except ModelNotFoundError as exc:
            raise RegistrationError(
                f"cannot roll back @{alias} of {name!r} to version {target}: it no longer "
                f"exists ({exc}); promote another version instead"
            ) from None
        return self._move(name, alias, target, "rollback", history_limit, moves)

    def _move(
        self,
        name: str,
        alias: str,
        number: int,
        action: Literal["promote", "rollback"],
        history_limit: int,
        moves: list[tuple[str, dict[str, Any]]] | None = None,
        note: str | None = None,
    ) -> AliasMove:
        from llmreg_mlflow import history as audit

        model = self.registered_model(name)
        previous = _aliases(model.get("aliases")).get(alias)
        if action == "promote" and previous == number:
            return AliasMove(name, alias, number, previous, action)
        if moves is None:
            moves = audit.trail(_tags(model.get("tags")), alias)
        key = audit.new_move_key([k for k, _ in moves if k])
        value = audit.move_value(alias, version=number, previous=previous, action=action, note=note)
        self.call(
            "POST", "registered-models/set-tag", body={"name": name, "key": key, "value": value}
        )
        self._settle(name, alias)
        self._prune(name, alias, history_limit)
        return audit.move_of(name, value)

    def _trail_version(self, name: str, alias: str) -> int | None:
        from llmreg_mlflow import history as audit

        moves = audit.trail(_tags(self.registered_model(name).get("tags")), alias)
        return audit.replay([entry for _, entry in moves])[1] if moves else None

    def _settle(self, name: str, alias: str) -> None:
        """Set the alias to the trail's version, again while other writers moved it."""
        wanted = self._trail_version(name, alias)
        for _ in range(_SETTLE_ATTEMPTS):
            if wanted is None:
                return
            self._set_alias(name, alias, wanted)
            now = self._trail_version(name, alias)
            if now == wanted:
                return
            wanted = now

    def _set_alias(self, name: str, alias: str, version: int) -> None:
        """Set the alias; retry when a concurrent first insert of the alias row won."""
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                self.call(
                    "POST",
                    "registered-models/alias",
                    body={"name": name, "alias": alias, "version": str(version)},
                )
                return
            except (RegistrationInputError, StoreUnavailableError) as exc:
                text = str(exc).lower()
                conflict = "unique" in text or "locked" in text or "already exists" in text
                if attempt == _CREATE_ATTEMPTS or not conflict:
                    raise
            time.sleep(0.05 * attempt)

    def _prune(self, name: str, alias: str, limit: int) -> None:
        """Drop the moves of ``alias`` beyond ``limit`` (another writer may too)."""
        from llmreg_mlflow import history as audit

        moves = audit.trail(_tags(self.registered_model(name).get("tags")), alias)
        old = audit.expired(moves, limit)
        if not old:
            return
        kept_legacy = [entry for key, entry in moves[len(old) :] if not key]
        doomed = [key for key, _ in old if key]
        if any(not key for key, _ in old):
            legacy = audit.history_tag(alias)
            if kept_legacy:
                body = {"name": name, "key": legacy, "value": audit.dump(kept_legacy)}
                self.call("POST", "registered-models/set-tag", body=body)
            else:
                doomed.append(legacy)
        for key in doomed:
            with contextlib.suppress(ModelNotFoundError, RegistrationInputError):
                self.call("DELETE", "registered-models/delete-tag", body={"name": name, "key": key})


#: As MlflowRegister: tries of an alias write that lost a race, and of settling the alias.
_CREATE_ATTEMPTS = 5
_SETTLE_ATTEMPTS = 50


class RestReader:
    """MlflowRegister's reading methods over REST, for the CLI's reading commands.

    What :func:`cli_reader` hands the CLI (``llmreg versions``, ``list``,
    ``history``, ``show``'s version lookup) against an ``http(s)://`` registry:
    the same answers as a built :class:`~llmreg_mlflow.register.MlflowRegister`,
    with the same checks of names, without importing pydantic or mlflow.

    Args:
        registry: the REST registry to read.
    """

    KIND = "MlflowRegister"

    def __init__(self, registry: RestRegistry) -> None:
        self.registry = registry

    def __repr__(self) -> str:
        return f"RestReader({self.registry.shown})"

    def versions(self, name: str) -> list[ModelVersionRef]:
        """Every version of ``name``, oldest first (see ``MlflowRegister.versions``)."""
        return self.registry.versions(check_model_name(name))

    def models(self) -> list[dict[str, Any]]:
        """Every registered model (see ``MlflowRegister.models``)."""
        return self.registry.models()

    def history(self, name: str, alias: str = "champion") -> list[AliasMove]:
        """The recorded moves of ``alias`` of ``name`` (see ``MlflowRegister.history``)."""
        return self.registry.history(check_model_name(name), check_alias(alias))


#: The MlflowRegister fields a reading command's light path handles (reading uses no
#: other); a config with another field is built and validated as MlflowRegister.
_READER_FIELDS = frozenset({"KIND", "tracking_uri", "registry_uri"})


def cli_reader(config: Mapping[str, Any]) -> RestReader | None:
    """The CLI's light reader for the register ``config`` (``CliSetup.reader``).

    A :class:`RestReader` when ``config`` is an ``MlflowRegister`` with at most its
    URIs (strings) and the registry it talks to is an ``http(s)://`` server with the
    REST path on (:func:`rest_uri`); else ``None``, and the CLI builds the register.
    """
    if config.get("KIND") != RestReader.KIND or set(config) - _READER_FIELDS:
        return None
    tracking, registry = config.get("tracking_uri"), config.get("registry_uri")
    if not all(uri is None or isinstance(uri, str) for uri in (tracking, registry)):
        return None
    found = rest_registry(tracking, registry)
    return None if found is None else RestReader(found)


__all__ = [
    "REST_ENV",
    "RestReader",
    "RestRegistry",
    "check_deletable",
    "cli_reader",
    "rest_registry",
    "rest_uri",
    "version_ref",
]
