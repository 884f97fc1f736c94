"""The one migration runner, through the SQLite stores and the provisioning registry that use it."""

from __future__ import annotations

import sqlite3

import pytest

from onestop.sqlite import open_database
from provisioning.registry import MIGRATIONS, Registry

STEPS = [("0001-a", "CREATE TABLE a (x INTEGER);"),
         ("0002-b", "CREATE TABLE b (y INTEGER);\nINSERT INTO b VALUES (1);")]


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_store_opened_again_applies_only_the_new_steps_once(tmp_path):
    path = tmp_path / "store.db"
    open_database(path, STEPS[:1]).conn.close()
    db = open_database(path, STEPS)
    assert [r[0] for r in db.conn.execute("SELECT name FROM _migrations ORDER BY name")] == ["0001-a", "0002-b"]
    db.conn.close()
    db = open_database(path, STEPS)
    assert db.conn.execute("SELECT count(*) FROM b").fetchone() == (1,)
    db.conn.close()


def test_a_failing_step_is_rolled_back_named_and_retried_at_the_next_open(tmp_path):
    path = tmp_path / "store.db"
    broken = ("0003-c", "CREATE TABLE c (z INTEGER);\nINSERT INTO nowhere VALUES (1);")
    with pytest.raises(sqlite3.OperationalError) as caught:
        open_database(path, [*STEPS, broken])
    assert any("0003-c" in note for note in caught.value.__notes__)
    assert "c" not in tables(path) and {"a", "b"} <= tables(path)
    open_database(path, [*STEPS, ("0003-c", "CREATE TABLE c (z INTEGER);")]).conn.close()
    assert "c" in tables(path)


def test_a_device_store_written_by_a_newer_release_still_opens(tmp_path):
    """A kiosk rolled back to the previous release keeps its outbox: device stores' steps only ever add."""
    path = tmp_path / "store.db"
    open_database(path, STEPS).conn.close()
    open_database(path, STEPS[:1]).conn.close()


def test_the_registry_records_its_steps_through_the_same_runner(tmp_path):
    registry = Registry(tmp_path / "registry.db")
    assert registry.migrations() == [m.key for m in MIGRATIONS]
    assert Registry(tmp_path / "registry.db").migrations() == [m.key for m in MIGRATIONS]
