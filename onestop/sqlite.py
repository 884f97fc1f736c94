"""SQLite conventions shared by every store: WAL mode, one writer, migrations recorded in the database.

Every store holds personal data (cards, screenings, presence): its file and its ``-wal`` and ``-shm`` files
are 0600 in a 0700 directory (``onestop.files``), and ``secure_delete`` overwrites deleted rows so they do
not linger in free pages; ``checkpoint`` empties the WAL, which otherwise keeps old page images after the
rows themselves are gone.

Migrations are ``(name, sql)`` pairs applied in order by the one runner (``onestop/migrations.py``); each
applied name is recorded in ``_migrations`` so a database opened by a newer version is brought forward
exactly once.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import sqlite_utils

from onestop.errors import CorruptDataError, OnestopError
from onestop.files import private_dir, private_file
from onestop.migrations import Migration
from onestop.migrations import migrate as run_migrations

Synchronous = Literal["OFF", "NORMAL", "FULL"]


class StorageError(OnestopError):
    """A store cannot write; ``path`` is its database file."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class StorageFullError(StorageError):
    """The database cannot grow: its disk (or its size limit) is full. Retrying helps once space returns."""


def storage_error(path: Path, exc: sqlite3.Error) -> StorageError | None:
    """Our error for a write SQLite refused because of the storage itself (else ``None``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        try:
            free = f"{shutil.disk_usage(path.parent).free:,} bytes free there"
        except OSError:
            free = "free space unknown"
        return StorageFullError(f"the disk holding {path} is full ({free}): free some space; "
                                "nothing is lost, writing resumes by itself", path)
    if code == sqlite3.SQLITE_READONLY:
        return StorageError(f"{path} cannot be written (read-only: is its filesystem remounted read-only?)", path)
    return None


def check_database(conn: sqlite3.Connection, path: Path) -> None:
    """``CorruptDataError`` unless the database at ``path`` reads as sound (``PRAGMA quick_check``).

    A file that exists but is empty counts as damaged: SQLite would start a new, empty database in it, and the
    service would run on silently without the data it had.
    """
    remedy = (f"Stop the service, move the file aside (mv {path} {path}.damaged, with its -wal and -shm files) "
              "and restore it from a backup, or start without it to begin an empty one; then start the service")
    if path.exists() and path.stat().st_size == 0 and not Path(f"{path}-wal").exists():
        raise CorruptDataError(path, "is empty (0 bytes) though it should hold a database", remedy)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise CorruptDataError(path, f"is not a readable database ({exc})", remedy) from exc
    if problems != ["ok"]:
        raise CorruptDataError(path, f"is damaged ({'; '.join(p[:120] for p in problems)})", remedy)


def open_database(path: str | Path, migrations: Sequence[tuple[str, str]], *,
                  synchronous: Synchronous = "NORMAL") -> sqlite_utils.Database:
    """Open (creating if needed) a WAL-mode database and apply pending migrations.

    An existing file is checked first (``check_database``): a damaged one raises ``CorruptDataError``.

    ``NORMAL`` in WAL mode never corrupts the database and loses at most the last commits on power loss;
    stores whose commit is a promise to someone else (a kiosk's outbox before it says "done") use ``FULL``.
    """
    private_dir(Path(path).parent)
    existed = Path(path).exists()
    # SQLite creates -wal and -shm with the database file's mode: set it before SQLite first opens the file,
    # and tighten those of an older release, which were created 0644.
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        if name == str(path) or Path(name).exists():
            private_file(Path(name))
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    if existed:
        try:
            check_database(conn, Path(path))
        except CorruptDataError:
            conn.close()
            raise
    db = sqlite_utils.Database(conn)
    db.enable_wal()
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free pages
    steps = [Migration(name, name, _script(sql)) for name, sql in migrations]
    run_migrations(_Ledger(conn), steps, database=str(path), allow_newer=True)
    return db


def checkpoint(conn: sqlite3.Connection) -> bool:
    """Copy the WAL into the database and truncate it to 0 bytes: the page images it held, deleted rows
    included, leave the file. False when a reader kept it from completing (the next call tries again)."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy


class _Ledger:
    """Applied steps recorded in ``_migrations``; a transaction is ``BEGIN IMMEDIATE``: we are the writer."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def applied(self, conn: sqlite3.Connection) -> set[str]:
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        return {row[0] for row in conn.execute("SELECT name FROM _migrations")}

    def record(self, conn: sqlite3.Connection, step: Migration[sqlite3.Connection, str]) -> None:
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (step.key, time.time()))


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in _statements(sql):
            conn.execute(statement)
    return apply


def _statements(script: str) -> list[str]:
    # executescript() would commit our transaction; split on complete statements instead.
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
