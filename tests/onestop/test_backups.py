"""The archive refuses, before writing anything, what must not be restored: another site's backup, a newer
release's database, a member altered after the backup, a member named outside the archive's own tree."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest

from onestop import backups
from onestop.backups import ArchiveWriter, BackupError


def make_archive(tmp_path: Path, migrations: list[str]) -> Path:
    db = tmp_path / "source" / "store.db"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        conn.executemany("INSERT INTO _migrations VALUES (?, 0)", [(m,) for m in migrations])
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO events VALUES (?)", [(i,) for i in range(100)])
    (tmp_path / "source" / "note.json").write_text("{}")
    dest = tmp_path / "backup.tar"
    with ArchiveWriter("gateway", "north-b3", dest) as writer:
        writer.add_sqlite("data/store.db", db)
        writer.add_file("data/note.json", tmp_path / "source" / "note.json")
        writer.write()
    return dest


def restore_into(archive: Path, target: Path, site: str = "north-b3", known: tuple[str, ...] = ("0001", "0002")):
    with backups.open_archive(archive) as (manifest, tar):
        backups.check_manifest(manifest, "gateway", site, {"data/store.db": known})
        backups.extract(tar, manifest, target)
    return manifest


def rewrite(archive: Path, change) -> None:
    """Rewrite the archive with ``change(name, data) -> (name, data)`` applied to every member."""
    with tarfile.open(archive) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(archive, "w") as tar:
        for name, data in members:
            name, data = change(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_whole_archive_restores_with_its_rows_and_records_its_migration_level(tmp_path):
    manifest = restore_into(make_archive(tmp_path, ["0001"]), tmp_path / "out")
    assert manifest.migrations == {"data/store.db": ["0001"]} and manifest.site == "north-b3"
    with sqlite3.connect(tmp_path / "out" / "data" / "store.db") as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (100,)


def test_another_sites_backup_is_refused(tmp_path):
    with pytest.raises(BackupError, match="site 'north-b3'"):
        restore_into(make_archive(tmp_path, ["0001"]), tmp_path / "out", site="south-a1")


def test_a_newer_releases_database_is_refused(tmp_path):
    with pytest.raises(BackupError, match="newer release"):
        restore_into(make_archive(tmp_path, ["0001", "0003"]), tmp_path / "out")


def test_an_altered_member_is_refused(tmp_path):
    archive = make_archive(tmp_path, ["0001"])
    rewrite(archive, lambda name, data: (name, b'{"altered": true}' if name == "data/note.json" else data))
    with pytest.raises(BackupError, match="does not match"):
        restore_into(archive, tmp_path / "out")


def test_a_member_named_outside_the_tree_is_refused(tmp_path):
    archive = make_archive(tmp_path, ["0001"])

    def escape(name: str, data: bytes) -> tuple[str, bytes]:
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["files"]["../escaped"] = manifest["files"].pop("data/note.json")
            return name, json.dumps(manifest).encode()
        return ("../escaped", data) if name == "data/note.json" else (name, data)

    rewrite(archive, escape)
    with pytest.raises(BackupError, match="outside"):
        restore_into(archive, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()


def test_a_non_empty_directory_is_replaced_only_when_forced_and_then_kept_aside(tmp_path):
    staged, target = tmp_path / "staged", tmp_path / "data"
    staged.mkdir()
    (staged / "new").write_text("restored")
    target.mkdir()
    (target / "old").write_text("what was there")
    with pytest.raises(BackupError, match="not empty"):
        backups.place_directory(staged, target, force=False)
    aside = backups.place_directory(staged, target, force=True)
    assert (target / "new").read_text() == "restored" and (aside / "old").read_text() == "what was there"
