"""Small validators for what a technician types or imports; pure functions, no registry access.

Each validator returns the cleaned value or raises a ``ProvisioningError`` subclass whose message says
what was wrong and what is allowed, so a command can print it as is.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import pwd
import re
from dataclasses import dataclass
from typing import cast, get_args

from onestop.ids import DEVICE_PATTERN, DEVICE_RE, SITE_PATTERN, SITE_RE, SLUG_PATTERN, SLUG_RE
from onestop.payloads import DEVICE_KINDS, DeviceKind
from onestop.records import Team
from provisioning.errors import InvalidIdError, InvalidInputError

DISPLAY_NAME_MAX = 80


def site_id(value: str) -> str:
    """A site slug (CONTRACT.md), e.g. ``north-b3``."""
    if not SITE_RE.fullmatch(value or ""):
        raise InvalidIdError(f"invalid site id {value!r}: must match {SITE_PATTERN}")
    return value


def device_id(value: str) -> str:
    """A device id (CONTRACT.md), e.g. ``kiosk-b3-lobby``; it is also the MQTT user name and client id."""
    if not DEVICE_RE.fullmatch(value or ""):
        raise InvalidIdError(f"invalid device id {value!r}: must match {DEVICE_PATTERN} "
                             "(3-64 lowercase letters, digits and '-', not starting with '-')")
    return value


# Broker users that ``init`` makes for services, named ``<site>-<role>`` (provisioning/site.py, harness/localsite.py).
SERVICE_USER_ROLES = ("gateway", "provisioner", "observer")


def not_service_user(value: str) -> str:
    """``value`` unless it has the form of a service's broker user of any site (``south-a1-gateway``).

    A device id is also a broker user name and client id: an id of that form would be another site's
    gateway (or provisioning, monitoring) account the day that site shares this broker or registry.
    """
    site, _, role = value.rpartition("-")
    if role in SERVICE_USER_ROLES and SITE_RE.fullmatch(site):
        raise InvalidIdError(f"invalid device id {value!r}: ids of the form SITE-{role} are reserved for the "
                             f"{role} broker user of site {site!r}; choose another id")
    return value


def teams(values: list[str]) -> list[str]:
    """One or more alert teams (``clinic``, ``counselling``, ``facilities``, ``technicians``), each once."""
    allowed = get_args(Team)
    wrong = [v for v in values if v not in allowed]
    if wrong or not values:
        raise InvalidInputError(f"invalid team(s) {', '.join(map(repr, wrong)) or '(none given)'}: one or more "
                                f"of {', '.join(allowed)}")
    return sorted(set(values))


DEFAULT_READER_DRIVER = "em4100"
DEFAULT_READER_PORT = "/dev/onestop-reader"  # the name deploy/kiosk/99-onestop-serial.rules gives the reader
NO_READER = "none"
_PORT_RE = re.compile(r"^/[\x21-\x7e]{1,255}$")


def serial_port(value: str) -> str:
    """An absolute device path such as ``/dev/ttyUSB0`` (printable, no spaces)."""
    if not _PORT_RE.fullmatch(value or ""):
        raise InvalidInputError(f"invalid serial port {value!r}: an absolute device path such as /dev/ttyUSB0")
    return value


def reader(driver: str | None, port: str | None) -> dict[str, str]:
    """A kiosk's ``[reader]`` section: the driver (default em4100) and port (default /dev/onestop-reader), or
    ``{"driver": "none"}`` for a kiosk declared to have no card reader."""
    if driver == NO_READER:
        if port:
            raise InvalidInputError("--reader none takes no --reader-port")
        return {"driver": NO_READER}
    from firmware_bridge.drivers import DRIVERS, PeripheralKind  # every parser: only when a bundle is made

    chosen = driver or DEFAULT_READER_DRIVER
    readers = [name for name, d in DRIVERS.items() if d.kind == PeripheralKind.CARD_READER]
    if chosen not in readers:
        raise InvalidInputError(f"invalid card reader driver {chosen!r}: one of {', '.join(readers)}, or none")
    return {"driver": chosen, "port": serial_port(port or DEFAULT_READER_PORT)}


def sensors(specs: list[str], space: str) -> list[dict[str, str]]:
    """A sensor node's ``[[sensors]]`` from ``DRIVER=PORT`` specs; each named after its driver (``-2`` ...
    when a driver repeats), each describing ``space``."""
    from firmware_bridge.drivers import DRIVERS  # every parser: only when a bundle is made

    if not specs:
        raise InvalidInputError("a sensor node needs at least one sensor: --sensor DRIVER=PORT, e.g. "
                                "--sensor and-scale=/dev/ttyUSB0 (`onestop bridge drivers` lists the drivers)")
    made: list[dict[str, str]] = []
    for spec in specs:
        driver, sep, port = spec.partition("=")
        if not sep or driver not in DRIVERS:
            raise InvalidInputError(f"invalid --sensor {spec!r}: DRIVER=PORT with a driver of "
                                    f"{', '.join(DRIVERS)}")
        seen = sum(1 for m in made if m["driver"] == driver)
        made.append({"name": driver if not seen else f"{driver}-{seen + 1}", "driver": driver,
                     "port": serial_port(port), "space": space})
    return made


def space_id(value: str) -> str:
    """A space slug, e.g. ``study-24h-2f``."""
    if not SLUG_RE.fullmatch(value or ""):
        raise InvalidIdError(f"invalid space id {value!r}: must match {SLUG_PATTERN}")
    return value


def kind(value: str) -> DeviceKind:
    """One of ``kiosk``, ``health-station``, ``sensor`` (the gateway is provisioned by ``init``, not as a device)."""
    if value not in DEVICE_KINDS:
        raise InvalidInputError(f"invalid kind {value!r}: one of {', '.join(DEVICE_KINDS)}")
    return cast(DeviceKind, value)


def display_name(value: str | None) -> str | None:
    """An optional human name shown on the kiosk; printable, at most 80 characters."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > DISPLAY_NAME_MAX or not value.isprintable():
        raise InvalidInputError(f"invalid display name: printable text of at most {DISPLAY_NAME_MAX} characters")
    return value


def capacity(value: int) -> int:
    """A space's capacity: a whole number of people, 0 .. 100000."""
    if not 0 <= value <= 100_000:
        raise InvalidInputError(f"invalid capacity {value}: 0 .. 100000")
    return value


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One valid row of a device CSV (``line`` counts the header as line 1, as a spreadsheet does)."""

    line: int
    device: str
    kind: DeviceKind
    space: str
    display_name: str | None


IMPORT_COLUMNS = ("device", "kind", "space")
IMPORT_OPTIONAL = ("display_name",)


def parse_import_csv(text: str) -> tuple[list[ImportRow], list[str]]:
    """Parse a device CSV (columns ``device,kind,space[,display_name]``, header required).

    Returns the valid rows and a list of problems (``line N: ...``), one per bad row, including ids
    repeated within the file. Nothing here knows the registry; the caller checks duplicates and spaces.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # spreadsheets like to add a BOM
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in IMPORT_COLUMNS if c not in header]
    unknown = [c for c in header if c not in IMPORT_COLUMNS + IMPORT_OPTIONAL]
    if missing or unknown:
        parts = [f"missing column(s) {', '.join(missing)}"] if missing else []
        parts += [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        return [], [f"line 1: {'; '.join(parts)} (expected device,kind,space[,display_name])"]
    reader.fieldnames = header
    rows: list[ImportRow] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if None in record:
            problems.append(f"line {line}: more fields than columns")
            continue
        values = {k: (v or "").strip() for k, v in record.items()}
        if not any(values.values()):
            continue  # a blank line
        try:
            row = ImportRow(line, device_id(values["device"]), kind(values["kind"]), space_id(values["space"]),
                            display_name(values.get("display_name")))
        except InvalidInputError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if row.device in first_line:
            problems.append(f"line {line}: device {row.device} repeats line {first_line[row.device]}")
            continue
        first_line[row.device] = line
        rows.append(row)
    return rows, problems


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def hostname(value: str) -> str:
    """A DNS name or an IP address the broker is reached by (goes into its certificate's SANs)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if len(value) > 253 or not _HOSTNAME_RE.fullmatch(value):
        raise InvalidInputError(f"invalid host name {value!r}: a DNS name or an IP address")
    return value.rstrip(".").lower()


def ip_address(value: str) -> str:
    """An IPv4 or IPv6 address (for a certificate's subjectAltName)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidInputError(f"invalid IP address {value!r}") from None


def user_ids(name: str) -> tuple[int, int]:
    """(uid, gid) of a local user who is to own files we write."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise InvalidInputError(f"no such user {name!r} on this machine") from None
    return entry.pw_uid, entry.pw_gid


def port(value: int, what: str) -> int:
    """A TCP port number."""
    if not 1 <= value <= 65535:
        raise InvalidInputError(f"invalid {what} {value}: 1 .. 65535")
    return value
