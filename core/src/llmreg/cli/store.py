"""Where the tracking store is: ``MLFLOW_TRACKING_URI``, or a sqlite file in the working folder.

MLflow reads ``MLFLOW_TRACKING_URI`` and ``MLFLOW_REGISTRY_URI`` itself; the CLI
only fills in the first one, before any plugin imports mlflow, when it is not
set. The registry then follows the tracking store, as MLflow users expect,
unless ``MLFLOW_REGISTRY_URI`` says otherwise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from llmreg.errors import ModelNotFoundError, StoreUnavailableError
from llmreg.secrets import mask_userinfo

TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
#: The file name of the embedded default store, in the working folder.
DEFAULT_DB = "mlflow.db"
#: MLflow's HTTP client settings the CLI uses unless they are set. MLflow's defaults
#: (7 retries, a backoff factor of 2, 120 s per request) make a command against an
#: unreachable ``http://`` store take minutes; with these it fails in seconds. Set the
#: variables to MLflow's defaults to get the long retries back.
FAST_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
#: sqlite stores this process created (first contact): a "not found" there says so.
_CREATED: set[str] = set()


def default_tracking_uri(folder: Path | None = None) -> str:
    """Return ``sqlite:///<folder>/mlflow.db`` for ``folder`` (default: the working folder)."""
    return f"sqlite:///{(folder or Path.cwd()).resolve() / DEFAULT_DB}"


def configure_store() -> dict[str, str | None]:
    """Set ``MLFLOW_TRACKING_URI`` to the default when unset, and return where the store is.

    Returns:
        ``{"tracking_uri", "registry_uri", "source"}``, ``source`` being ``"environment"``
        or ``"default"``. The registry URI is ``None`` where it follows the tracking URI.
    """
    tracking = os.environ.get(TRACKING_ENV)
    source = "environment"
    if not tracking:
        tracking = default_tracking_uri()
        os.environ[TRACKING_ENV] = tracking
        source = "default"
    # Fail fast against an unreachable server (MLflow reads these when it first connects).
    for name, value in FAST_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # urllib3 logs one WARNING per retry; the typed error that follows says it all.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    return {
        "tracking_uri": tracking,
        "registry_uri": os.environ.get(REGISTRY_ENV) or None,
        "source": source,
    }


def use_store() -> dict[str, str | None] | None:
    """Configure the store (see :func:`configure_store`) where mlflow is installed.

    Returns ``None`` where mlflow is not installed: then no plugin uses a tracking store.
    """
    if importlib.util.find_spec("mlflow") is None:
        return None
    store = configure_store()
    for uri in {store["tracking_uri"], store["registry_uri"]} - {None}:
        prepare_sqlite(str(uri))
    return store


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for another scheme or memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _initialized(path: Path, uri: str) -> bool:
    """Whether the sqlite file holds MLflow's schema (checked with the standard library).

    Raises:
        StoreUnavailableError: the file is not a SQLite database (corrupt, or another file).
    """
    if not path.exists() or path.stat().st_size == 0:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return bool(db.execute("SELECT count(*) FROM alembic_version").fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return False
        raise _unusable(uri, exc) from None
    except sqlite3.DatabaseError as exc:
        raise _unusable(uri, exc) from None


def _unusable(uri: str, exc: Exception) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"the store {shown(uri)} cannot be used: {exc}. It is not an MLflow sqlite database "
        f"(corrupt, or another file): check {TRACKING_ENV}, or move the file away"
    )


def prepare_sqlite(uri: str) -> None:
    """Check a sqlite store, and create MLflow's schema in a new one under a lock.

    MLflow creates its tables on first contact; several commands doing that at once
    on a new file fail (``duplicate column name``). The first contact is made here,
    under an exclusive lock on the file's folder, so that one process creates the
    schema and the others wait for it. Another scheme is left alone.

    Raises:
        StoreUnavailableError: the folder does not exist, or the file is not an MLflow
            sqlite database; the message names the store.
    """
    path = sqlite_path(uri)
    if path is None:
        return
    if not path.parent.is_dir():
        raise StoreUnavailableError(
            f"the store {shown(uri)} cannot be used: the folder {path.parent} does not exist. "
            f"Check {TRACKING_ENV}"
        )
    if _initialized(path, uri):
        return
    try:
        from mlflow import MlflowClient
    except ImportError:  # no usable mlflow: no plugin will open the store either
        return
    with _folder_lock(path.parent):
        if _initialized(path, uri):
            return
        try:
            MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
        except Exception as exc:
            raise StoreUnavailableError(
                f"the store {shown(uri)} could not be created: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        _CREATED.add(uri)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (no file is created); no-op where unsupported."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def shown(uri: str | None) -> str:
    """A store URI as messages show it: any ``user:password@`` masked."""
    return mask_userinfo(uri or "")


def shown_store(store: dict[str, str | None] | None) -> dict[str, Any] | None:
    """The store dict as ``--json`` prints it: URIs with user-info masked."""
    if store is None:
        return None
    return {k: shown(v) if k.endswith("_uri") and v else v for k, v in store.items()}


@contextlib.contextmanager
def naming_store(store: dict[str, str | None] | None) -> Iterator[None]:
    """Add the store to a "not found" or "unavailable" error raised in the block.

    A mistyped ``sqlite:///`` path makes a new, empty store: "model not found" then
    says so, and names the file.
    """
    try:
        yield
    except (ModelNotFoundError, StoreUnavailableError) as exc:
        if store is None:
            raise
        uri = str(store["tracking_uri"])
        registry = store["registry_uri"] or uri
        where = shown(registry)
        note = ""
        if registry in _CREATED:
            note = " (a new, empty store created by this command: check the path)"
        if where not in str(exc) or note:
            exc.args = (f"{exc} [store: {where}{note}]",)
        raise


def say_store(store: dict[str, str | None] | None) -> None:
    """Say where the store is, as one ``store: <uri>`` line on stderr.

    Commands call it after they succeeded, so that an error stays one line.
    """
    if store is None:
        return
    line = f"store: {shown(store['tracking_uri'])}"
    if store["registry_uri"]:
        line += f" (registry: {shown(store['registry_uri'])})"
    click.echo(line, err=True)
