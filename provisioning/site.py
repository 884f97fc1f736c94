"""One site's provisioning directory: what ``init`` creates and what every later command changes.

    DIR/
      registry.db            the registry (0600): devices, spaces, hashes, audit log
      ca/ca.crt, ca/ca.key   the site CA (directory 0700, key 0600); never leaves this machine
      gateway-broker.toml    the gateway's own MQTT credentials as a [broker] section (0600)
      provisioner-broker.toml  this tool's MQTT account, which may only correct device state topics (0600)
      broker/                what Mosquitto reads (owned by the broker user, 0700 / 0600):
        mosquitto.conf passwd acl ca.crt server.crt server.key data/ mosquitto.log mosquitto.pid

A change goes registry first (one transaction), then the broker's files are re-rendered from the registry
as a whole and written atomically, then the broker is told (``reload``). If the process dies between the
steps, re-running any command re-renders the files from the registry, so they cannot drift for long.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from onestop.errors import CorruptDataError
from onestop.mqtt_settings import BrokerSettings
from provisioning import pki, validation
from provisioning.broker_reload import ReloadOutcome, reload_broker
from provisioning.errors import (
    DuplicateError,
    ImportRowsError,
    SiteDirectoryError,
    StateError,
    UnknownSpaceError,
)
from provisioning.mosquitto_files import (
    BrokerLayout,
    hash_password,
    render_acl,
    render_conf,
    render_passwd,
    write_private,
)
from provisioning.registry import Device, DeviceCredentials, Registry, Space, utc_now

PASSWORD_BYTES = 24  # 192 bits from secrets.token_urlsafe: no dictionary or brute force reaches it


@dataclass(frozen=True)
class SitePaths:
    """Where everything of one provisioning directory lives."""

    root: Path

    @property
    def registry(self) -> Path:
        return self.root / "registry.db"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca" / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca" / "ca.key"

    @property
    def gateway_credentials(self) -> Path:
        return self.root / "gateway-broker.toml"

    @property
    def provisioner_credentials(self) -> Path:
        return self.root / "provisioner-broker.toml"

    @property
    def broker(self) -> Path:
        return self.root / "broker"


@dataclass(frozen=True)
class InitOptions:
    """What ``init`` is told about the site and its broker."""

    site: str
    hostnames: list[str] = field(default_factory=list)
    port: int = 1883
    tls_port: int = 8883
    bind: str = "127.0.0.1"
    tls_bind: str | None = None
    broker_user: str | None = "mosquitto"
    require_client_cert: bool = False

    def validated(self) -> InitOptions:
        """A copy with every field checked (``ProvisioningError`` on the first bad one)."""
        tls_port = validation.port(self.tls_port, "TLS port")
        if validation.port(self.port, "port") == tls_port:
            raise validation.InvalidInputError("the plain and TLS listeners need different ports")
        return InitOptions(validation.site_id(self.site), [validation.hostname(h) for h in self.hostnames],
                           self.port, tls_port, validation.hostname(self.bind),
                           validation.hostname(self.tls_bind) if self.tls_bind else None,
                           self.broker_user or None, self.require_client_cert)


@dataclass(frozen=True)
class GatewayCertificate:
    """Where ``issue_gateway_certificate`` wrote the gateway's HTTPS certificate, key and the site CA."""

    cert: Path
    key: Path
    ca_cert: Path
    issued: pki.Issued

    @property
    def names(self) -> list[str]:
        """The subjectAltNames clients may dial (DNS names and IP addresses)."""
        return pki.san_names(self.issued.cert)


def _new_credentials(ca: pki.Issued | None, site: str, device: str) -> DeviceCredentials:
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    if ca is None:
        return DeviceCredentials(password, hash_password(password))
    issued = pki.issue_client(ca, site, device)
    return DeviceCredentials(password, hash_password(password), issued.cert_pem.decode(), issued.serial_hex,
                             issued.not_after.isoformat().replace("+00:00", "Z"), issued.key_pem.decode())


def _mkdir_private(path: Path, owner: tuple[int, int] | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    if owner:
        os.chown(path, *owner)


class Site:
    """An initialised provisioning directory with its open registry."""

    def __init__(self, paths: SitePaths, registry: Registry) -> None:
        self.paths = paths
        self.registry = registry
        self.settings: dict[str, Any] = registry.settings()
        self.name: str = self.settings["site"]

    @classmethod
    def open(cls, root: Path) -> Site:
        """Open ``root``; ``SiteDirectoryError`` if it was never initialised or its CA is missing."""
        paths = SitePaths(root)
        registry = Registry.open(paths.registry)
        for needed in (paths.ca_cert, paths.ca_key):
            if not needed.is_file():
                registry.close()
                raise SiteDirectoryError(f"{needed} is missing: the site CA is gone; restore it from backup "
                                         "(re-running init would invalidate every device's bundle)")
        return cls(paths, registry)

    def close(self) -> None:
        self.registry.close()

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the broker's files ----------------------------------------------------------------------------
    @property
    def layout(self) -> BrokerLayout:
        s, broker = self.settings, self.paths.broker
        return BrokerLayout(broker, s["port"], s["bind"], tls_port=s["tls_port"], cafile=broker / "ca.crt",
                            certfile=broker / "server.crt", keyfile=broker / "server.key",
                            run_as=s["broker_user"], tls_bind=s["tls_bind"], pid_file=broker / "mosquitto.pid",
                            require_certificate=s["require_client_cert"])

    @property
    def gateway_user(self) -> str:
        return str(self.settings["gateway_user"])

    @property
    def provisioner_user(self) -> str:
        # Its own account: the broker ties client ids to user names, so connecting as the gateway would take
        # over the gateway's session.
        return f"{self.name}-provisioner"

    def broker_owner(self) -> tuple[int, int] | None:
        """(uid, gid) of the broker user when we are root and it exists; Mosquitto drops to it before
        reading its files, so they must be its own."""
        user = self.settings.get("broker_user")
        if os.geteuid() != 0 or not user:
            return None
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            return None
        return entry.pw_uid, entry.pw_gid

    def write_broker_files(self) -> None:
        """Render the password file, ACL and configuration from the registry and write them atomically.

        They must stay the broker user's: Mosquitto 2.0 re-reads them as that user, and on a reload that
        cannot read the password file it keeps running but refuses every login.
        """
        owner = self.broker_owner()
        try:
            write_private(self.layout.passwd, render_passwd(self.registry.broker_passwords()), owner=owner)
            write_private(self.layout.acl, render_acl(self.name, [self.gateway_user],
                                                      state_writers=[self.provisioner_user],
                                                      displays=self.registry.displays()), owner=owner)
            write_private(self.layout.conf, render_conf(self.layout), owner=owner)
        except PermissionError as exc:
            raise SiteDirectoryError(f"cannot write the broker's files in {self.paths.broker}: {exc.strerror}; "
                                     "run as root (sudo) so they stay owned by the broker user") from exc

    def reload(self, broker_pid: int | None = None) -> ReloadOutcome:
        """Tell the running broker (SIGHUP) to re-read the files."""
        assert self.layout.pid_file is not None
        return reload_broker(self.layout.pid_file, broker_pid)

    def ca(self) -> pki.Issued:
        """The site CA with its key (only for signing; never copied anywhere)."""
        try:
            return pki.load_ca(self.paths.ca_cert.read_bytes(), self.paths.ca_key.read_bytes())
        except ValueError as exc:  # cryptography's answer to a damaged PEM file, or a key of the wrong kind
            raise CorruptDataError(f"{self.paths.ca_key} or {self.paths.ca_cert}",
                                   f"cannot be read as the site CA ({str(exc)[:120]})",
                                   "Restore both files from the site's backup; a new CA would make every device "
                                   "and gateway certificate of the site invalid") from exc

    def issue_gateway_certificate(self, hosts: list[str], out: Path,
                                  owner: tuple[int, int] | None = None) -> GatewayCertificate:
        """The gateway's HTTPS certificate from the site CA, written to ``out`` as ``gateway.crt``,
        ``gateway.key`` (0600, ``owner``'s: the gateway's service user must read it) and ``ca.crt``."""
        names = [validation.hostname(h) for h in hosts]
        issued = pki.issue_server(self.ca(), self.name, names)
        made = GatewayCertificate(out / "gateway.crt", out / "gateway.key", out / "ca.crt", issued)
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_private(made.key, issued.key_pem, owner=owner)
            write_private(made.cert, issued.cert_pem, mode=0o644, owner=owner)
            write_private(made.ca_cert, self.paths.ca_cert.read_bytes(), mode=0o644, owner=owner)
        except PermissionError as exc:
            raise SiteDirectoryError(f"cannot write the gateway's certificate in {out}: {exc.strerror}") from exc
        self.registry.record_certificate("gateway-cert", self.name, f"serial={issued.serial_hex} "
                                         f"until={issued.not_after.date()} names={','.join(made.names)}")
        return made

    # -- spaces ----------------------------------------------------------------------------------------
    def add_space(self, space: str, capacity: int | None, display_name: str | None = None) -> Space:
        """Declare a space; from then on devices may only be placed in declared spaces."""
        new = Space(validation.space_id(space), None if capacity is None else validation.capacity(capacity),
                    validation.display_name(display_name))
        self.registry.add_space(new)
        return new

    def check_space(self, space: str, known: set[str] | None = None) -> str:
        """``space`` when allowed: any valid slug until spaces are declared, then only a declared one."""
        validation.space_id(space)
        known = {s.id for s in self.registry.spaces()} if known is None else known
        if known and space not in known:
            raise UnknownSpaceError(f"unknown space {space!r}: declared spaces are {', '.join(sorted(known))} "
                                    "(`onestop provision space add`)")
        return space

    # -- devices ---------------------------------------------------------------------------------------
    def _check_new_id(self, device: str, taken: set[str]) -> None:
        validation.device_id(device)
        if device in taken:
            raise DuplicateError(f"device {device} already exists (ids are never reused, even after revoke)")
        if device == self.gateway_user or device in self.registry.service_users():
            raise DuplicateError(f"{device} is the gateway's broker user, not available as a device id")
        if device in self.registry.displays():
            raise DuplicateError(f"{device} is a staff display's broker user, not available as a device id")
        validation.not_service_user(device)

    def add_device(self, device: str, kind: str, space: str, display_name: str | None = None,
                   cert: bool = False) -> Device:
        """Register a device with a fresh password (and client certificate); writes the broker's files."""
        self._check_new_id(device, {d.id for d in self.registry.devices()})
        kind_value = validation.kind(kind)
        self.check_space(space)
        name = validation.display_name(display_name)
        cred = _new_credentials(self.ca() if cert else None, self.name, device)
        self.registry.add_devices([(device, kind_value, space, name, cred)])
        self.write_broker_files()
        return self.registry.device(device)

    def import_devices(self, text: str, source: str, cert: bool = False,
                       on_row: Callable[[str], None] | None = None) -> list[str]:
        """Add every device of a CSV or none: all rows are checked first and every problem is reported."""
        rows, problems = validation.parse_import_csv(text)
        taken = {d.id for d in self.registry.devices()}
        known = {s.id for s in self.registry.spaces()}
        for row in rows:
            try:
                self._check_new_id(row.device, taken)
                self.check_space(row.space, known)
            except validation.InvalidInputError as exc:
                problems.append(f"line {row.line}: {exc}")
            except DuplicateError as exc:
                problems.append(f"line {row.line}: {exc}")
        if problems:
            raise ImportRowsError(source, sorted(problems, key=lambda p: int(p.split()[1].rstrip(":"))))
        if not rows:
            raise ImportRowsError(source, ["line 1: no device rows"])
        ca = self.ca() if cert else None
        prepared = ((row.device, row.kind, row.space, row.display_name,
                     _new_credentials(ca, self.name, row.device)) for row in rows)
        self.registry.add_devices(prepared, on_each=on_row)
        self.write_broker_files()
        return [row.device for row in rows]

    def rotate(self, device: str, cert: bool | None = None) -> Device:
        """New password (and certificate, if it has or is asked to have one); the old ones stop at reload."""
        current = self.registry.device(device)
        if not current.active:
            raise StateError(f"device {device} was revoked on {current.revoked}; ids are never reused")
        want_cert = bool(current.cert_pem) if cert is None else cert
        self.registry.replace_credentials(device, _new_credentials(self.ca() if want_cert else None, self.name,
                                                                   device))
        self.write_broker_files()
        return self.registry.device(device)

    def revoke(self, device: str) -> Device:
        """Remove the device's broker credentials for good; the id stays taken."""
        current = self.registry.device(device)
        if not current.active:
            raise StateError(f"device {device} is already revoked (since {current.revoked})")
        self.registry.revoke(device)
        self.write_broker_files()
        return self.registry.device(device)


    # -- staff displays --------------------------------------------------------------------------------
    def add_display(self, name: str, teams: list[str]) -> str:
        """A staff display's broker user, reading only ``teams``' alert topics; returns its password (kept
        nowhere: the registry and the broker hold its hash only). Writes the broker's files."""
        validation.device_id(name)  # a broker user name, and so its client id: the device id rules apply
        chosen = validation.teams(teams)
        if name in {d.id for d in self.registry.devices()}:
            raise DuplicateError(f"{name} is a device id (ids are never reused), not available for a display")
        if name == self.gateway_user or name in self.registry.service_users():
            raise DuplicateError(f"{name} is a service's broker user, not available for a display")
        validation.not_service_user(name)
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        self.registry.add_display(name, chosen, hash_password(password))
        self.write_broker_files()
        return password

    def remove_display(self, name: str) -> None:
        """Remove a staff display's broker user (a live connection is dropped at reload)."""
        self.registry.remove_display(name)
        self.write_broker_files()


def init_site(root: Path, options: InitOptions, force: bool = False) -> Site:
    """Create a provisioning directory: registry, CA, broker certificate, gateway credentials, broker files."""
    options = options.validated()
    paths = SitePaths(root)
    existing = [p for p in (paths.registry, paths.ca_key, paths.ca_cert, paths.broker) if p.exists()]
    if existing and not force:
        raise SiteDirectoryError(f"{root} is already initialised ({', '.join(p.name for p in existing)}): refusing "
                                 "to replace its CA, which would invalidate every bundle; pass --force to move the "
                                 "old files aside and start over")
    if existing:
        _move_aside(paths)
    _mkdir_private(root)
    _mkdir_private(paths.ca_cert.parent)
    ca = pki.create_ca(options.site)
    write_private(paths.ca_key, ca.key_pem)
    write_private(paths.ca_cert, ca.cert_pem, mode=0o644)
    gateway_user = f"{options.site}-gateway"
    gateway_password = secrets.token_urlsafe(PASSWORD_BYTES)
    settings = {"site": options.site, "hostnames": options.hostnames, "port": options.port,
                "tls_port": options.tls_port, "bind": options.bind, "tls_bind": options.tls_bind,
                "broker_user": options.broker_user, "require_client_cert": options.require_client_cert,
                "gateway_user": gateway_user, "created": utc_now()}
    registry = Registry.create(paths.registry, settings)
    registry.add_service_user(gateway_user, "gateway", hash_password(gateway_password))
    provisioner_user, provisioner_password = f"{options.site}-provisioner", secrets.token_urlsafe(PASSWORD_BYTES)
    registry.add_service_user(provisioner_user, "provisioner", hash_password(provisioner_password))
    site = Site(paths, registry)
    owner = site.broker_owner()
    if owner and owner[0] != os.geteuid():
        # Mosquitto reads broker/ after dropping to its own user, so that user's group may pass through DIR
        # (search only, no listing); everything else in DIR stays 0600 / 0700 and root's.
        os.chown(root, -1, owner[1])
        os.chmod(root, 0o710)
    _mkdir_private(paths.broker, owner)
    _mkdir_private(site.layout.data, owner)
    server = pki.issue_server(ca, options.site, options.hostnames)
    write_private(paths.broker / "ca.crt", ca.cert_pem, mode=0o644, owner=owner)
    write_private(paths.broker / "server.crt", server.cert_pem, mode=0o644, owner=owner)
    write_private(paths.broker / "server.key", server.key_pem, owner=owner)
    host = "127.0.0.1" if options.bind in ("0.0.0.0", "::") else options.bind
    section = {"host": host, "port": options.port, "username": gateway_user, "password": gateway_password}
    BrokerSettings.model_validate(section)  # the gateway will load it with this model
    write_private(paths.gateway_credentials,
                  "# The gateway's MQTT credentials: copy this [broker] section into gateway.toml.\n"
                  + tomli_w.dumps({"broker": section}))
    write_private(paths.provisioner_credentials,
                  "# This tool's MQTT account: it may only correct device state topics (revoke, rotate).\n"
                  + tomli_w.dumps({"broker": {**section, "username": provisioner_user,
                                              "password": provisioner_password}}))
    site.write_broker_files()
    return site


def _move_aside(paths: SitePaths) -> Path:
    backup = paths.root / f"replaced-{utc_now().replace(':', '')}"
    _mkdir_private(backup)
    for name in ("registry.db", "registry.db-wal", "registry.db-shm", "ca", "broker", "gateway-broker.toml",
                 "provisioner-broker.toml"):
        if (paths.root / name).exists():
            shutil.move(str(paths.root / name), str(backup / name))
    return backup
