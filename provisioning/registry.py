"""The device registry: one SQLite file per site, the single source the broker's files are rendered from.

- Migrations are registered below in order and recorded in ``_migrations``; opening a registry applies the
  missing ones, so an older provisioning directory upgrades itself.
- One ``Registry`` object owns the write connection; each public method is one transaction.
- Passwords are kept as Mosquitto ``$7$`` hashes. A device's clear password (and its client key, when it has
  a certificate) waits in ``pending_secrets`` only until ``bundle`` has written it into the device's bundle;
  the row is then deleted with ``secure_delete`` on and the WAL truncated, so the clear secret does not
  linger in the file. The registry file is mode 0600 in a 0700 directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from onestop.migrations import Migration, migrate
from onestop.sqlite import check_database
from provisioning.errors import DuplicateError, NotFoundError, SiteDirectoryError


def utc_now() -> str:
    """Now as RFC 3339 UTC with a ``Z``, the registry's time format."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _m0001_initial(db: sqlite_utils.Database) -> None:
    db.executescript("""
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE spaces (id TEXT PRIMARY KEY, capacity INTEGER, display_name TEXT, created TEXT NOT NULL);
        CREATE TABLE devices (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, space TEXT NOT NULL, display_name TEXT,
            status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
            password_hash TEXT, created TEXT NOT NULL, credentials_issued TEXT NOT NULL,
            bundled TEXT, revoked TEXT, cert_pem TEXT, cert_serial TEXT, cert_not_after TEXT);
        CREATE TABLE pending_secrets (
            device TEXT PRIMARY KEY REFERENCES devices(id), password TEXT NOT NULL, client_key_pem TEXT,
            created TEXT NOT NULL);
        CREATE TABLE service_users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
            created TEXT NOT NULL);
        CREATE TABLE api_tokens (name TEXT PRIMARY KEY, role TEXT NOT NULL, sha256 TEXT NOT NULL,
            created TEXT NOT NULL);
        CREATE TABLE audit (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL,
            detail TEXT);
    """)


def _m0002_displays(db: sqlite_utils.Database) -> None:
    # Staff displays: broker users that read their teams' alert topics (teams: JSON list of team names).
    db.executescript("""
        CREATE TABLE displays (name TEXT PRIMARY KEY, teams TEXT NOT NULL, password_hash TEXT NOT NULL,
            created TEXT NOT NULL);
    """)


MIGRATIONS: list[Migration[sqlite_utils.Database, str]] = [
    Migration("0001_initial", "devices, spaces, service users, tokens, audit", _m0001_initial),
    Migration("0002_displays", "staff displays", _m0002_displays),
]


class _Ledger:
    """Applied steps recorded in ``_migrations`` (``applied`` as RFC 3339 text, the registry's time format)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def transaction(self) -> contextlib.AbstractContextManager[sqlite_utils.Database]:
        return self.db.atomic()

    def applied(self, db: sqlite_utils.Database) -> set[str]:
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
        return {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}

    def record(self, db: sqlite_utils.Database, step: Migration[sqlite_utils.Database, str]) -> None:
        db.execute("INSERT INTO _migrations (name, applied) VALUES (?, ?)", [step.key, utc_now()])


@dataclass(frozen=True, slots=True)
class Device:
    """A device as the registry knows it (no clear secrets)."""

    id: str
    kind: str
    space: str
    display_name: str | None
    status: str
    password_hash: str | None
    created: str
    credentials_issued: str
    bundled: str | None
    revoked: str | None
    cert_pem: str | None
    cert_serial: str | None
    cert_not_after: str | None
    secret_pending: bool

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Space:
    """A space kiosks check people into."""

    id: str
    capacity: int | None
    display_name: str | None


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """Fresh credentials for one device: the hash goes to the broker, the rest only into its bundle."""

    password: str
    password_hash: str
    cert_pem: str | None = None
    cert_serial: str | None = None
    cert_not_after: str | None = None
    key_pem: str | None = None


@dataclass(frozen=True, slots=True)
class PendingSecret:
    """What ``bundle`` needs and nothing else keeps: the clear password and the client key."""

    password: str
    client_key_pem: str | None


_DEVICE_COLUMNS = ("id, kind, space, display_name, status, password_hash, created, credentials_issued, bundled, "
                   "revoked, cert_pem, cert_serial, cert_not_after")


class Registry:
    """The site's registry; every public method is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite_utils.Database(path)
        for pragma in ("journal_mode = WAL", "secure_delete = ON", "foreign_keys = ON", "busy_timeout = 5000"):
            self.db.execute(f"PRAGMA {pragma}")
        self._migrate()

    # -- opening ---------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, settings: dict[str, Any]) -> Registry:
        """A new registry file (mode 0600) holding ``settings``; refuses to touch an existing one."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SiteDirectoryError(f"{path} already exists") from None
        os.close(fd)
        registry = cls(path)
        with registry.db.atomic():
            for key, value in settings.items():
                registry.db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", [key, json.dumps(value)])
            registry._audit("init", str(settings.get("site", "")), None)
        return registry

    @classmethod
    def open(cls, path: Path) -> Registry:
        """An existing registry; ``SiteDirectoryError`` when there is none."""
        if not path.is_file():
            raise SiteDirectoryError(f"no registry at {path}: run `onestop provision init --site SITE --dir "
                                     f"{path.parent}` first")
        with contextlib.closing(sqlite3.connect(path)) as probe:
            check_database(probe, path)  # a damaged registry: CorruptDataError naming it, before any change
        return cls(path)

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        migrate(_Ledger(self.db), MIGRATIONS, database=str(self.path), allow_newer=True)

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in order."""
        return [row[0] for row in self.db.execute("SELECT name FROM _migrations ORDER BY name").fetchall()]

    # -- settings --------------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The site settings written by ``init``."""
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM settings").fetchall()}

    # -- spaces ----------------------------------------------------------------------------------------
    def add_space(self, space: Space) -> None:
        """Declare a space; ``DuplicateError`` if it exists."""
        try:
            with self.db.atomic():
                self.db.execute("INSERT INTO spaces (id, capacity, display_name, created) VALUES (?, ?, ?, ?)",
                                [space.id, space.capacity, space.display_name, utc_now()])
                self._audit("space-add", space.id, f"capacity={space.capacity}")
        except sqlite3.IntegrityError:
            raise DuplicateError(f"space {space.id} already exists") from None

    def spaces(self) -> list[Space]:
        """Every declared space, by id."""
        rows = self.db.execute("SELECT id, capacity, display_name FROM spaces ORDER BY id").fetchall()
        return [Space(*row) for row in rows]

    # -- devices ---------------------------------------------------------------------------------------
    def add_devices(self, devices: Iterable[tuple[str, str, str, str | None, DeviceCredentials]],
                    on_each: Callable[[str], None] | None = None) -> None:
        """Insert ``(id, kind, space, display_name, credentials)`` rows, all or none."""
        now = utc_now()
        current = ""
        try:
            with self.db.atomic():
                for device, kind, space, display_name, cred in devices:
                    current = device
                    self.db.execute(
                        "INSERT INTO devices (id, kind, space, display_name, status, password_hash, created, "
                        "credentials_issued, cert_pem, cert_serial, cert_not_after) "
                        "VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)",
                        [device, kind, space, display_name, cred.password_hash, now, now, cred.cert_pem,
                         cred.cert_serial, cred.cert_not_after])
                    self._put_secret(device, cred, now)
                    self._audit("device-add", device, f"kind={kind} space={space} cert={bool(cred.cert_pem)}")
                    if on_each:
                        on_each(device)
        except sqlite3.IntegrityError:
            raise DuplicateError(f"device {current} already exists") from None

    def device(self, device: str) -> Device:
        """One device; ``NotFoundError`` if unknown."""
        found = self._devices("WHERE d.id = ?", [device])
        if not found:
            raise NotFoundError(f"no device {device} in this registry (`onestop provision device list`)")
        return found[0]

    def devices(self) -> list[Device]:
        """Every device, revoked ones included, by id."""
        return self._devices("", [])

    def _devices(self, where: str, args: list[Any]) -> list[Device]:
        names = [c.strip() for c in _DEVICE_COLUMNS.split(",")]
        rows = self.db.execute(
            f"SELECT {', '.join('d.' + n for n in names)}, p.device IS NOT NULL FROM devices d "
            f"LEFT JOIN pending_secrets p ON p.device = d.id {where} ORDER BY d.id", args).fetchall()
        return [Device(**dict(zip(names, row[:-1], strict=True)), secret_pending=bool(row[-1])) for row in rows]

    def replace_credentials(self, device: str, cred: DeviceCredentials) -> None:
        """New password (and certificate) for an active device; the old ones stop working at reload."""
        now = utc_now()
        with self.db.atomic():
            self.db.execute("UPDATE devices SET password_hash = ?, credentials_issued = ?, bundled = NULL, "
                            "cert_pem = ?, cert_serial = ?, cert_not_after = ? WHERE id = ?",
                            [cred.password_hash, now, cred.cert_pem, cred.cert_serial, cred.cert_not_after, device])
            self.db.execute("DELETE FROM pending_secrets WHERE device = ?", [device])
            self._put_secret(device, cred, now)
            self._audit("device-rotate", device, None)

    def revoke(self, device: str) -> None:
        """Mark revoked and forget its credentials; the id stays taken."""
        with self.db.atomic():
            self.db.execute("UPDATE devices SET status = 'revoked', revoked = ?, password_hash = NULL "
                            "WHERE id = ?", [utc_now(), device])
            self.db.execute("DELETE FROM pending_secrets WHERE device = ?", [device])
            self._audit("device-revoke", device, None)
        self._truncate_wal()

    def pending_secret(self, device: str) -> PendingSecret | None:
        """The clear secret waiting for the device's bundle, if any."""
        row = self.db.execute("SELECT password, client_key_pem FROM pending_secrets WHERE device = ?",
                              [device]).fetchone()
        return PendingSecret(*row) if row else None

    def mark_bundled(self, device: str, destination: str) -> None:
        """The bundle is written: drop the clear secret for good."""
        with self.db.atomic():
            self.db.execute("DELETE FROM pending_secrets WHERE device = ?", [device])
            self.db.execute("UPDATE devices SET bundled = ? WHERE id = ?", [utc_now(), device])
            self._audit("device-bundle", device, destination)
        self._truncate_wal()

    def _put_secret(self, device: str, cred: DeviceCredentials, now: str) -> None:
        self.db.execute("INSERT INTO pending_secrets (device, password, client_key_pem, created) VALUES (?, ?, ?, ?)",
                        [device, cred.password, cred.key_pem, now])

    def _truncate_wal(self) -> None:
        # Deleted secrets are zeroed in the main file (secure_delete) once checkpointed; truncating the WAL
        # removes the copies of the pages that still held them.
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- broker users and API tokens -------------------------------------------------------------------
    def add_service_user(self, name: str, role: str, password_hash: str) -> None:
        """A non-device broker user (the gateway)."""
        with self.db.atomic():
            self.db.execute("INSERT INTO service_users (name, role, password_hash, created) VALUES (?, ?, ?, ?)",
                            [name, role, password_hash, utc_now()])
            self._audit("service-user-add", name, f"role={role}")

    def service_users(self) -> dict[str, str]:
        """``{name: role}`` of the service users."""
        return dict(self.db.execute("SELECT name, role FROM service_users ORDER BY name").fetchall())

    def broker_passwords(self) -> dict[str, str]:
        """``{user: $7$ hash}`` for the password file: service users, staff displays and active devices."""
        users = dict(self.db.execute("SELECT name, password_hash FROM service_users").fetchall())
        users.update(self.db.execute("SELECT name, password_hash FROM displays").fetchall())
        users.update(self.db.execute("SELECT id, password_hash FROM devices WHERE status = 'active' "
                                     "AND password_hash IS NOT NULL").fetchall())
        return users

    def add_display(self, name: str, teams: list[str], password_hash: str) -> None:
        """A staff display's broker user, reading the given teams' alerts; ``DuplicateError`` if it exists."""
        try:
            with self.db.atomic():
                self.db.execute("INSERT INTO displays (name, teams, password_hash, created) VALUES (?, ?, ?, ?)",
                                [name, json.dumps(sorted(teams)), password_hash, utc_now()])
                self._audit("display-add", name, f"teams={','.join(sorted(teams))}")
        except sqlite3.IntegrityError:
            raise DuplicateError(f"display {name} already exists") from None

    def displays(self) -> dict[str, list[str]]:
        """``{name: teams}`` of the staff displays."""
        rows = self.db.execute("SELECT name, teams FROM displays ORDER BY name").fetchall()
        return {name: json.loads(teams) for name, teams in rows}

    def remove_display(self, name: str) -> None:
        """Forget a staff display's broker user; ``NotFoundError`` if unknown."""
        with self.db.atomic():
            if not self.db.execute("DELETE FROM displays WHERE name = ?", [name]).rowcount:
                raise NotFoundError(f"no display {name} in this registry (`onestop provision display list`)")
            self._audit("display-remove", name, None)

    def add_token(self, name: str, role: str, sha256: str) -> None:
        """Record an issued API token by its digest (for audit; the services hold their own lists)."""
        try:
            with self.db.atomic():
                self.db.execute("INSERT INTO api_tokens (name, role, sha256, created) VALUES (?, ?, ?, ?)",
                                [name, role, sha256, utc_now()])
                self._audit("token-add", name, f"role={role}")
        except sqlite3.IntegrityError:
            raise DuplicateError(f"a token named {name} was already issued; choose another --name") from None

    def record_certificate(self, action: str, subject: str, detail: str) -> None:
        """Record a certificate the site CA issued outside the device table (a gateway's HTTPS certificate)."""
        with self.db.atomic():
            self._audit(action, subject, detail)

    def audit_log(self) -> list[tuple[str, str, str, str | None]]:
        """``(ts, action, subject, detail)`` in order."""
        return self.db.execute("SELECT ts, action, subject, detail FROM audit ORDER BY id").fetchall()

    def _audit(self, action: str, subject: str, detail: str | None) -> None:
        self.db.execute("INSERT INTO audit (ts, action, subject, detail) VALUES (?, ?, ?, ?)",
                        [utc_now(), action, subject, detail])
