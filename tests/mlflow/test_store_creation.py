"""A new sqlite store is created whole or not at all, and a half-created one is named.

A full disk on first use used to leave a half-migrated ``mlflow.db`` that every later
command failed on with an untyped "table _alembic_tmp_experiments already exists". The
disk is really full here: a 400 KiB tmpfs (MLflow's schema takes about 1 MB), mounted
for the test (root only; skipped elsewhere).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmreg.cli import cli
from llmreg.errors import StoreUnavailableError
from llmreg_mlflow.store.environment import prepare_sqlite


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 400 KiB tmpfs, too small for MLflow's schema."""
    folder = tmp_path / "small"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _grow(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=8m", str(folder)], check=True)


def _uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def _llmreg(folder: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "placeholder")  # restored after the test
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the default store: mlflow.db in the folder
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(folder)
    done = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    out = json.loads(done.stdout)
    out["_exit"] = done.exit_code
    return out


def test_a_full_disk_on_first_use_leaves_nothing_behind(small_disk, monkeypatch):
    with pytest.raises(StoreUnavailableError, match="could not be created") as info:
        prepare_sqlite(_uri(small_disk))
    assert "Nothing was left behind" in str(info.value)
    assert sorted(p.name for p in small_disk.iterdir()) == []
    again = _llmreg(small_disk, monkeypatch, "versions", "chat")
    assert again["_exit"] == 1 and again["error"]["type"] == "StoreUnavailableError"
    assert "half-created" not in again["error"]["message"]
    assert sorted(p.name for p in small_disk.iterdir()) == []
    _grow(small_disk)  # space freed: the next command creates the store, whole
    done = _llmreg(small_disk, monkeypatch, "list")
    assert done["_exit"] == 0 and done["models"] == [], done["error"]["message"]
    # MLflow 3.4 also makes its default artifact folder beside the store
    assert sorted(p.name for p in small_disk.iterdir() if p.name != "mlruns") == ["mlflow.db"]
    assert prepare_sqlite(_uri(small_disk)) is False  # complete: nothing more to create


def _half_made(path: Path, *, tmp_table: bool) -> bytes:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)")
        if tmp_table:
            db.execute("CREATE TABLE _alembic_tmp_experiments (experiment_id INTEGER)")
            db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
            db.execute("INSERT INTO alembic_version VALUES ('451aebb31d03')")
        db.commit()
    return path.read_bytes()


@pytest.mark.parametrize("tmp_table", [True, False], ids=["alembic-tmp-table", "no-version"])
def test_a_half_created_store_is_a_typed_error_that_says_what_to_do(
    tmp_path, monkeypatch, tmp_table
):
    before = _half_made(tmp_path / "mlflow.db", tmp_table=tmp_table)
    with pytest.raises(StoreUnavailableError, match="half-created") as info:
        prepare_sqlite(_uri(tmp_path))
    assert f"delete {tmp_path / 'mlflow.db'}" in str(info.value)
    out = _llmreg(tmp_path, monkeypatch, "versions", "chat")
    assert out["_exit"] == 1 and out["error"]["type"] == "StoreUnavailableError"
    assert "half-created" in out["error"]["message"] and "unexpected" not in out["error"]
    assert (tmp_path / "mlflow.db").read_bytes() == before  # never touched


def test_an_empty_database_file_is_created_in_place(tmp_path):
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:
        db.execute("PRAGMA user_version = 1")  # a database with a header and no table
    assert prepare_sqlite(_uri(tmp_path)) is True
    assert prepare_sqlite(_uri(tmp_path)) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]
