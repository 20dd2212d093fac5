"""SqliteRegister and RegistryLoader: versions, tags and alias moves in one sqlite file."""

import json
import sqlite3
from contextlib import closing, contextmanager
from typing import Literal

from llmreg import Adapter, AliasMove, AliasRegister, ModelVersionRef, errors, hookimpl
from llmreg.uris import parse_model_uri
from llmreg_example.folder import FolderLoader

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (name TEXT, version INTEGER, uri TEXT, tags TEXT);
CREATE TABLE IF NOT EXISTS moves (seq INTEGER PRIMARY KEY, name TEXT, alias TEXT,
                                  version INTEGER, previous INTEGER, action TEXT);
"""


class SqliteRegister(AliasRegister):
    """Registers ``folder:`` URIs as numbered versions of a name, in the sqlite file ``db``."""

    KIND: Literal["SqliteRegister"] = "SqliteRegister"
    db: str = "registry.db"

    @contextmanager
    def _write(self):
        # BEGIN IMMEDIATE: one writer at a time, so versions and moves stay whole
        with closing(sqlite3.connect(self.db, timeout=30, isolation_level=None)) as db:
            db.executescript(SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def register(self, name: str, model_uri: str) -> ModelVersionRef:
        with self._write() as db:
            (last,) = db.execute(
                "SELECT MAX(version) FROM versions WHERE name = ?", (name,)
            ).fetchone()
            version = (last or 0) + 1
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?)",
                (name, version, model_uri, json.dumps(self.tags)),
            )
        return ModelVersionRef(name=name, version=version, tags=self.tags, source=model_uri)

    def versions(self, name: str) -> list[ModelVersionRef]:
        with self._write() as db:
            rows = db.execute(
                "SELECT version, uri, tags FROM versions WHERE name = ? ORDER BY version", (name,)
            )
            found = [(v, uri, json.loads(tags)) for v, uri, tags in rows]
        return [ModelVersionRef(name=name, version=v, tags=t, source=uri) for v, uri, t in found]

    def source(self, name: str, version: int | None = None, alias: str | None = None) -> str:
        """The URI registered as ``version`` (or the one ``alias`` points at)."""
        with self._write() as db:
            if alias is not None:
                version = self._current(db, name, alias)
            row = db.execute(
                "SELECT uri FROM versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        if row is None:
            raise errors.ModelNotFoundError(
                f"{name} has no version {version} (alias {alias}): see llmreg versions {name}"
            )
        return row[0]

    def _current(self, db, name, alias):
        row = db.execute(
            "SELECT version FROM moves WHERE name = ? AND alias = ? ORDER BY seq DESC",
            (name, alias),
        ).fetchone()
        return row[0] if row else None

    def _move(self, db, name, alias, version, action) -> AliasMove:
        previous = self._current(db, name, alias)
        db.execute(
            "INSERT INTO moves (name, alias, version, previous, action) VALUES (?, ?, ?, ?, ?)",
            (name, alias, version, previous, action),
        )
        return AliasMove(name=name, alias=alias, version=version, previous=previous, action=action)

    def promote(self, name: str, version: int | str, alias: str = "champion") -> AliasMove:
        with self._write() as db:
            if not db.execute(
                "SELECT 1 FROM versions WHERE name = ? AND version = ?", (name, int(version))
            ).fetchone():
                raise errors.ModelNotFoundError(
                    f"{name} has no version {version}: see llmreg versions {name}"
                )
            return self._move(db, name, alias, int(version), "promote")

    def rollback(self, name: str, alias: str = "champion") -> AliasMove:
        with self._write() as db:
            last = db.execute(
                "SELECT previous FROM moves WHERE name = ? AND alias = ? ORDER BY seq DESC",
                (name, alias),
            ).fetchone()
            if last is None or last[0] is None:
                raise errors.RegistrationError(
                    f"{alias} of {name} has no earlier version to go back to"
                )
            return self._move(db, name, alias, last[0], "rollback")

    def history(self, name: str, alias: str = "champion") -> list[AliasMove]:
        with self._write() as db:
            rows = db.execute(
                "SELECT version, previous, action FROM moves WHERE name = ? AND alias = ? "
                "ORDER BY seq",
                (name, alias),
            ).fetchall()
        return [
            AliasMove(name=name, alias=alias, version=v, previous=p, action=a) for v, p, a in rows
        ]


class RegistryLoader(FolderLoader):
    """Loads ``folder:`` URIs, and ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS``
    through the register."""

    KIND: Literal["RegistryLoader"] = "RegistryLoader"
    db: str = "registry.db"

    def load(self, uri: str) -> Adapter:
        if uri.startswith("models:/"):
            parsed = parse_model_uri(uri)  # InvalidModelURIError for a malformed one
            uri = SqliteRegister(db=self.db).source(parsed.name, parsed.version, parsed.alias)
        return super().load(uri)


@hookimpl
def llmreg_register_registers(register):
    register(SqliteRegister)


@hookimpl
def llmreg_register_loaders(register):
    register(RegistryLoader)
