"""Where the MLflow store is for a CLI run, and MLflow's noise: what ``llmreg_cli_setup`` does.

MLflow reads ``MLFLOW_TRACKING_URI`` and ``MLFLOW_REGISTRY_URI`` itself; the CLI
only fills in the first one, before anything imports mlflow, when it is not set:
a sqlite file in the working folder. The registry then follows the tracking
store, as MLflow users expect, unless ``MLFLOW_REGISTRY_URI`` says otherwise.

It also makes the CLI fail fast against an unreachable ``http://`` store, and
prepares a sqlite store before a command uses it (a corrupt or half-created
file is a typed error naming it; a new one gets MLflow's schema under a folder
lock, so that several first commands at once do not race, in a temporary file
renamed into place only when complete, so that a full disk leaves nothing).
This module does not import mlflow, except to create a new sqlite store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from llmreg.errors import StoreUnavailableError
from llmreg.hookspecs import CliSetup
from llmreg.secrets import mask_userinfo

TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
#: MLflow's own log level (read when mlflow is imported).
LOGGING_ENV = "MLFLOW_LOGGING_LEVEL"
#: Whether MLflow draws a progress bar while it up- or downloads artifacts.
PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
#: Whether MLflow prints a run's URL on stdout when the run ends against a server.
NO_URL_PRINT_ENV = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
#: The file name of the embedded default store, in the working folder.
DEFAULT_DB = "mlflow.db"
#: The packages whose warnings the CLI hides unless ``--debug``.
QUIET = ("mlflow",)
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
    return {
        "tracking_uri": tracking,
        "registry_uri": os.environ.get(REGISTRY_ENV) or None,
        "source": source,
    }


def cli_setup(debug: bool) -> CliSetup:
    """Prepare a CLI run: the store default, fail-fast HTTP, and MLflow quiet unless ``debug``.

    Unless ``debug``, MLflow logs errors only (``MLFLOW_LOGGING_LEVEL=ERROR``),
    draws no progress bar, and urllib3's per-retry warnings are hidden; a value the
    user set is kept either way.
    """
    if not debug:
        os.environ.setdefault(LOGGING_ENV, "ERROR")
        os.environ.setdefault(PROGRESS_ENV, "false")
        # urllib3 logs one WARNING per retry; the typed error that follows says it all.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    for name, value in FAST_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # Against an mlflow server, MLflow writes "View run ... at: URL" on stdout when a run
    # ends: stdout is the command's output (--json included), so that line is off.
    os.environ.setdefault(NO_URL_PRINT_ENV, "true")
    store = configure_store()

    def prepare() -> dict[str, Any]:
        created = False
        for uri in {store["tracking_uri"], store["registry_uri"]} - {None}:
            created = prepare_sqlite(str(uri)) or created
        return {"created": True} if created else {}

    return CliSetup(store=store, quiet=QUIET, prepare=prepare, reader=_reader)


def _reader(config: Any) -> Any:
    """The reading commands' light path: :func:`llmreg_mlflow.rest.cli_reader`."""
    from llmreg_mlflow.rest import cli_reader

    return cli_reader(config)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for another scheme or memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _state(path: Path, uri: str) -> Literal["new", "ready", "half"]:
    """What the sqlite file holds (read with the standard library): nothing yet (``new``:
    missing, empty, or a database with no table), MLflow's schema (``ready``), or the
    remains of a creation that stopped midway (``half``: alembic's ``_alembic_tmp_*``
    tables, or tables with no recorded schema version).

    Raises:
        StoreUnavailableError: the file is not a SQLite database (corrupt, or another file).
    """
    if not path.exists() or path.stat().st_size == 0:
        return "new"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if any(t.startswith("_alembic_tmp_") for t in tables):
                return "half"
            versions = "SELECT count(*) FROM alembic_version"
            if "alembic_version" in tables and db.execute(versions).fetchone()[0]:
                return "ready"
    except sqlite3.DatabaseError as exc:
        raise _unusable(uri, exc) from None
    return "half" if tables else "new"


def _unusable(uri: str, exc: Exception) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"the store {mask_userinfo(uri)} cannot be used: {exc}. It is not an MLflow sqlite "
        f"database (corrupt, or another file): check {TRACKING_ENV}, or move the file away"
    )


def _half_made(uri: str, path: Path) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"the store {mask_userinfo(uri)} is half-created: a first use stopped while it made "
        "MLflow's tables (the disk was full, or the process was killed), and MLflow cannot "
        f"open it. A store that was never finished holds no runs or models: delete {path} "
        "and run the command again to create it anew (or, if it holds data you need, "
        "restore it from a backup)"
    )


def prepare_sqlite(uri: str) -> bool:
    """Check a sqlite store, and create a new one whole or not at all, under a lock.

    MLflow creates its tables on first contact; several commands doing that at once
    on a new file fail (``duplicate column name``), and one that stops midway (a full
    disk) leaves a file MLflow cannot open again. So the first contact is made here,
    under an exclusive lock on the file's folder (one process creates the schema, the
    others wait), into a temporary file beside it that is renamed into place only once
    MLflow's schema is complete there; a failure deletes it. Another scheme is left
    alone.

    Returns:
        Whether this call created the store.

    Raises:
        StoreUnavailableError: the folder does not exist, the file is not an MLflow
            sqlite database or is half-created, or creating it failed (nothing is left
            behind); the message names the store and what to do.
    """
    path = sqlite_path(uri)
    if path is None:
        return False
    if not path.parent.is_dir():
        raise StoreUnavailableError(
            f"the store {mask_userinfo(uri)} cannot be used: the folder {path.parent} does "
            f"not exist. Check {TRACKING_ENV}"
        )
    state = _state(path, uri)
    if state == "half":
        raise _half_made(uri, path)
    if state == "ready":
        return False
    try:
        from mlflow import MlflowClient
    except ImportError:  # no usable mlflow: nothing will open the store either
        return False
    with _folder_lock(path.parent):
        state = _state(path, uri)
        if state != "new":
            if state == "half":
                raise _half_made(uri, path)
            return False
        _create_whole(MlflowClient, uri, path)
        return True


def _create_whole(client: Any, uri: str, path: Path) -> None:
    """Create MLflow's schema in a temporary file and rename it to ``path`` when complete.

    Raises:
        StoreUnavailableError: creating it failed; the temporary file is deleted.
    """
    # A new name each time: MLflow keeps an engine per URI, which must never be reused.
    temp = path.with_name(f".{path.name}.creating-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    temp_uri = f"sqlite:///{temp}"
    try:
        client(tracking_uri=temp_uri, registry_uri=temp_uri).search_experiments(max_results=1)
        if _state(temp, temp_uri) != "ready":
            raise OSError("MLflow's schema is incomplete in the new file")
        with contextlib.closing(sqlite3.connect(temp)) as db:  # all of it in the one file
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(temp, "rb+") as made:  # on disk before it takes the store's name
            os.fsync(made.fileno())
        os.replace(temp, path)
    except Exception as exc:
        for leftover in (temp, *(temp.with_name(temp.name + e) for e in ("-journal", "-wal"))):
            with contextlib.suppress(OSError):
                leftover.unlink()
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise StoreUnavailableError(
            f"the store {mask_userinfo(uri)} could not be created: {type(exc).__name__}: "
            f"{first}. Nothing was left behind; free some space (or fix the folder's "
            "permissions) and run the command again"
        ) from exc


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


__all__ = [
    "DEFAULT_DB",
    "FAST_HTTP_DEFAULTS",
    "LOGGING_ENV",
    "PROGRESS_ENV",
    "QUIET",
    "REGISTRY_ENV",
    "TRACKING_ENV",
    "cli_setup",
    "configure_store",
    "default_tracking_uri",
    "prepare_sqlite",
    "sqlite_path",
]
