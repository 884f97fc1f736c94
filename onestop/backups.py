"""Backups that restore: one archive format for the gateway, central and the provisioning directory.

An archive is a tar file, written 0600 (it holds personal data, or the site CA key):

    manifest.json     format, service, software version, site, when, the migrations each database
                      records, and every member's SHA-256 and size
    data/...          the service's files: each SQLite database copied with SQLite's online backup API (a
                      consistent copy while the service keeps writing), other files as they are
    keys/...          key files kept outside the data (only when asked for: ``--include-keys``)

Restoring reads the manifest first and refuses, before anything is written, an archive of another service or
site, of a newer release (a database recording migrations this code does not know), or one whose members do
not match their hashes. Members are extracted into a staging directory beside the target, checked, and moved
into place only when every check passed. A non-empty target is replaced only when forced, and then moved
aside (``NAME.replaced-TIMESTAMP``), never deleted: the operator removes it once the restore is confirmed.

This module does the I/O every service shares; what each service backs up is in ``gateway/backup.py``,
``central/backup.py`` and ``provisioning/backup.py``. Progress is reported through a callback, so a command
can draw it (rich) and a test need not.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import onestop
from onestop.errors import OnestopError
from onestop.files import FILE_MODE, private_dir

FORMAT = 1
MANIFEST = "manifest.json"
# Called with (what, done, total) as a copy advances; total 0 when unknown.
Progress = Callable[[str, int, int], None]


class BackupError(OnestopError):
    """A backup cannot be made, or an archive is refused for restoring; the message says why and what to do."""


def _no_progress(what: str, done: int, total: int) -> None:
    pass


@dataclass
class Manifest:
    """What an archive says about itself (``manifest.json``)."""

    service: str
    site: str | None
    version: str = onestop.__version__
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    migrations: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, dict[str, int | str]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise BackupError(f"archive format {raw.get('format')!r} is not one this release reads ({FORMAT})")
            return cls(**{k: raw[k] for k in ("service", "site", "version", "created", "migrations", "files",
                                              "keys", "format")})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"the archive's manifest is not readable ({exc.__class__.__name__})") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def recorded_migrations(path: Path, table: str = "_migrations", column: str = "name") -> list[str]:
    """The migrations a SQLite database records (an empty list when it records none)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            return sorted(str(row[0]) for row in conn.execute(f"SELECT {column} FROM {table}"))  # noqa: S608
        except sqlite3.OperationalError:
            return []


class ArchiveWriter:
    """Collects members in a private staging directory beside the destination, then writes the archive."""

    def __init__(self, service: str, site: str | None, dest: Path, progress: Progress = _no_progress) -> None:
        if dest.exists() and dest.is_dir():
            raise BackupError(f"{dest} is a directory; name the archive file to write, e.g. {dest}/backup.tar")
        self.dest = dest
        self.manifest = Manifest(service, site)
        self.progress = progress
        if not dest.parent.exists():
            private_dir(dest.parent)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def _member(self, name: str) -> Path:
        target = self.staging / name
        private_dir(target.parent)
        return target

    def add_sqlite(self, name: str, source: Path, table: str = "_migrations", column: str = "name") -> None:
        """A consistent copy of a live database (online backup API), and the migrations it records."""
        if not source.exists():
            raise BackupError(f"{source} does not exist: is the data directory right, has the service run?")
        target = self._member(name)
        self.progress(source.name, 0, 1)
        try:
            # All pages in one step: one read transaction, so the copy is consistent and, in WAL mode, the
            # service's writer is not held up. Copying in steps would restart whenever the service writes
            # between two steps, and a busy gateway writes every few milliseconds.
            with contextlib.closing(sqlite3.connect(source, timeout=30)) as src, \
                    contextlib.closing(sqlite3.connect(target)) as dst:
                src.backup(dst, pages=-1)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot copy {source} ({exc})") from exc
        os.chmod(target, FILE_MODE)
        self.progress(source.name, 1, 1)
        self.manifest.migrations[name] = recorded_migrations(target, table, column)

    def add_file(self, name: str, source: Path) -> None:
        """A file copied as it is (mode 0600 in the archive whatever it was)."""
        target = self._member(name)
        shutil.copyfile(source, target)
        os.chmod(target, FILE_MODE)

    def add_key(self, name: str, source: Path) -> None:
        """A key file, under ``keys/``: only when the operator asked for keys."""
        self.add_file(f"keys/{name}", source)
        self.manifest.keys.append(name)

    def produced(self, name: str) -> Path:
        """Where a member another program writes (``pg_dump``) goes."""
        return self._member(name)

    def write(self) -> Manifest:
        """Hash every member, write the archive 0600 atomically, and return its manifest."""
        members = sorted(p for p in self.staging.rglob("*") if p.is_file())
        for path in members:
            self.manifest.files[path.relative_to(self.staging).as_posix()] = {"sha256": _sha256(path),
                                                                              "bytes": path.stat().st_size}
        tmp = self.dest.with_name(self.dest.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w") as tar:
            data = self.manifest.to_json()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), FILE_MODE, int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
            total = sum(p.stat().st_size for p in members)
            done = 0
            for path in members:
                tar.add(path, arcname=path.relative_to(self.staging).as_posix(), recursive=False)
                done += path.stat().st_size
                self.progress("archive", done, total)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.dest)
        return self.manifest


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


@contextlib.contextmanager
def open_archive(source: Path) -> Iterator[tuple[Manifest, tarfile.TarFile]]:
    """The archive's manifest and its tar file, the manifest read before anything else."""
    try:
        with tarfile.open(source, mode="r:*") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise BackupError(f"{source} holds no {MANIFEST}: not an onestop backup")
            yield Manifest.from_json(member.read()), tar
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise BackupError(f"{source} is not a readable onestop backup ({exc})") from exc


def check_manifest(manifest: Manifest, service: str, site: str | None,
                   known: Mapping[str, Collection[str]]) -> None:
    """Refuse an archive of another service or site, or one written by a newer release."""
    if manifest.service != service:
        raise BackupError(f"this is a backup of {manifest.service}, not of {service}")
    if site is not None and manifest.site != site:
        raise BackupError(f"this is a backup of site {manifest.site!r}; this configuration is site {site!r}")
    for name, recorded in manifest.migrations.items():
        unknown = sorted(set(recorded) - {str(k) for k in known.get(name, ())})
        if unknown:
            raise BackupError(f"{name} in this backup records migrations this release does not know "
                              f"({', '.join(unknown)}): it was written by a newer release "
                              f"({manifest.version}; this is {onestop.__version__}); upgrade first")
    for name in manifest.files:
        if not _safe_name(name):
            raise BackupError(f"the archive names a member outside its own tree: {name!r}")


def extract(tar: tarfile.TarFile, manifest: Manifest, staging: Path) -> None:
    """Extract every member the manifest lists into ``staging`` and check its hash and size."""
    for name, facts in manifest.files.items():
        try:
            member = tar.getmember(name)
        except KeyError as exc:
            raise BackupError(f"the archive lacks {name}, which its manifest lists") from exc
        if not member.isfile():
            raise BackupError(f"{name} in the archive is not a regular file")
        tar.extract(member, staging, filter="data")
        target = staging / name
        os.chmod(target, FILE_MODE)
        if target.stat().st_size != facts["bytes"] or _sha256(target) != facts["sha256"]:
            raise BackupError(f"{name} in the archive does not match its manifest's hash: the archive is "
                              "damaged or was altered; nothing was restored")


def is_empty(directory: Path) -> bool:
    """True when ``directory`` is missing or holds nothing."""
    return not directory.exists() or not any(directory.iterdir())


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``path.replaced-TIMESTAMP`` (kept for the operator to delete) and return that name."""
    aside = path.with_name(f"{path.name}.replaced-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    path.rename(aside)
    return aside


def place_directory(staged: Path, target: Path, force: bool) -> Path | None:
    """Put the directory ``staged`` at ``target``; a non-empty ``target`` only when forced (moved aside)."""
    aside = None
    if target.exists() and not is_empty(target):
        if not force:
            raise BackupError(f"{target} is not empty: restore into an empty directory, or pass --force to move "
                              "what is there aside")
        aside = move_aside(target)
    elif target.exists():
        target.rmdir()
    if not target.parent.exists():
        private_dir(target.parent)
    staged.rename(target)
    os.chmod(target, 0o700)
    return aside


def place_key(staged: Path, target: Path, force: bool) -> Path | None:
    """Put a restored key file at ``target`` (0600); an existing different key only when forced (moved aside)."""
    aside = None
    if target.exists():
        if target.read_bytes() == staged.read_bytes():
            return None
        if not force:
            raise BackupError(f"{target} holds another key: pass --force to move it aside and restore the "
                              "archive's")
        aside = move_aside(target)
    private_dir(target.parent)
    shutil.move(staged, target)
    os.chmod(target, FILE_MODE)
    return aside
