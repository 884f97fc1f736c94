"""Back up and restore the central service's database (the archive format: ``onestop/backups.py``).

SQLite: the database file copied with SQLite's online backup API while central runs. PostgreSQL: ``pg_dump
-Fc`` of the configured database (one consistent snapshot; workers keep running), restored with
``pg_restore`` into an empty database. The archive's manifest records the migrations the database had, read
from the copy itself (SQLite) or from the live database in the same breath as the dump (PostgreSQL).

The pseudonym key file (``pseudonym_key_file``) is a key, not data: it is in an archive only with
``--include-keys``. Without it, restored pseudonyms cannot be matched with new ones: keep it backed up apart.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa

from central.migrations import MIGRATIONS
from central.settings import CentralSettings
from onestop import backups
from onestop.backups import ArchiveWriter, BackupError, Manifest, Progress

SERVICE = "central"
SQLITE_MEMBER = "data/central.db"
DUMP_MEMBER = "data/central.pgdump"
PSEUDONYM_KEY = "pseudonym.key"


def _sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _pg_tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: on the PATH, else the newest in Debian's versioned directories."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client (apt install postgresql-client)")
    return found


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options for the PostgreSQL tools, the password in the environment (never on a command line)."""
    parsed = sa.engine.make_url(url)
    args = [f"--dbname={parsed.database}"]
    args += [f"--host={parsed.host}"] if parsed.host else []
    args += [f"--port={parsed.port}"] if parsed.port else []
    args += [f"--username={parsed.username}"] if parsed.username else []
    env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
    return args, env


def _pg_migrations(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_migrations"):
                return []
            return sorted(str(v) for v in conn.exec_driver_sql("SELECT version FROM schema_migrations").scalars())
    finally:
        engine.dispose()


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-600:]}")


def backup(settings: CentralSettings, dest: Path, *, include_keys: bool = False,
           progress: Progress = backups._no_progress) -> Manifest:
    """Write an archive of central's database (and its pseudonym key file only when asked) to ``dest``."""
    url = settings.database_url
    with ArchiveWriter(SERVICE, None, dest, progress) as writer:
        if (path := _sqlite_path(url)) is not None:
            writer.add_sqlite(SQLITE_MEMBER, path, table="schema_migrations", column="version")
        elif url.startswith("postgresql"):
            args, env = _libpq(url)
            progress("pg_dump", 0, 1)
            # The migration level is read before the dump: a migration applied in between would only make the
            # dump newer than recorded, and a restore then applies nothing twice (each step is recorded).
            writer.manifest.migrations[DUMP_MEMBER] = _pg_migrations(url)
            _run([_pg_tool("pg_dump"), "-Fc", "--no-owner", "--no-privileges", *args,
                  f"--file={writer.produced(DUMP_MEMBER)}"], env, "pg_dump")
            progress("pg_dump", 1, 1)
        else:
            raise BackupError(f"cannot back up a database at {url.split(':', 1)[0]!r} (sqlite or postgresql)")
        if include_keys and settings.pseudonym_key_file.exists():
            writer.add_key(PSEUDONYM_KEY, settings.pseudonym_key_file)
        return writer.write()


def _pg_empty(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return not sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()


def restore(settings: CentralSettings, source: Path, *, force: bool = False,
            include_keys: bool = False) -> tuple[Manifest, list[Path]]:
    """Restore an archive into the configured database (central stopped); returns its manifest and what was
    moved aside. A non-empty target is refused unless ``force``."""
    url = settings.database_url
    known = {name: [str(m.key) for m in MIGRATIONS] for name in (SQLITE_MEMBER, DUMP_MEMBER)}
    moved: list[Path] = []
    with backups.open_archive(source) as (manifest, tar):
        backups.check_manifest(manifest, SERVICE, None, known)
        if include_keys and PSEUDONYM_KEY not in manifest.keys:
            raise BackupError("--include-keys: this archive holds no pseudonym key (made without --include-keys)")
        path = _sqlite_path(url)
        member = SQLITE_MEMBER if path is not None else DUMP_MEMBER
        if member not in manifest.files:
            kind = "SQLite" if path is not None else "PostgreSQL"
            raise BackupError(f"this archive holds no {kind} database; central's database_url is {kind}: "
                              "restore it with the backend it was made from, then move the data across")
        if path is not None and path.exists() and path.stat().st_size and not force:
            raise BackupError(f"{path} exists: restore into a fresh database, or pass --force to move it aside")
        if path is None and not force and not _pg_empty(url):
            raise BackupError("the configured PostgreSQL database is not empty: restore into a fresh database "
                              "(createdb), or pass --force to replace what is in it")
        parent = path.parent if path is not None else Path(source).resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".central.restore-", dir=parent) as tmp:
            staging = Path(tmp)
            backups.extract(tar, manifest, staging)
            if include_keys:
                aside = backups.place_key(staging / "keys" / PSEUDONYM_KEY, settings.pseudonym_key_file, force)
                moved += [aside] if aside else []
            if path is not None:
                aside = backups.move_aside(path) if path.exists() else None
                moved += [aside] if aside else []
                for suffix in ("-wal", "-shm", "-journal"):
                    # The old database's log goes with it: replayed into the restored one, it would corrupt it.
                    log = Path(f"{path}{suffix}")
                    if log.exists():
                        log.rename(Path(f"{aside}{suffix}")) if aside else log.unlink()
                (staging / SQLITE_MEMBER).rename(path)
            else:
                args, env = _libpq(url)
                clean = ["--clean", "--if-exists"] if force else []
                _run([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                      "--single-transaction", *clean, *args, str(staging / DUMP_MEMBER)], env, "pg_restore")
    return manifest, moved
