"""A device's bundle: everything it needs to join the site, written once to a directory or a zip file.

Contents (``DEVICE`` is the device id):

    DEVICE.toml    the device's configuration (0600): site, device, data_dir, broker host/port, user
                   name, password, and ``tls_ca`` (plus ``tls_cert``/``tls_key``) as absolute paths under
                   the install directory. A kiosk or health station's adds its space and ``[reader]`` and
                   runs with ``onestop kiosk run``; a sensor node's adds ``[[sensors]]`` (driver, port,
                   space) and runs with ``onestop bridge run``. Each is validated here with the very model
                   the device loads it with.
    ca.crt         the site CA certificate the device checks the broker against
    client.crt     the device's certificate and key (0600), only when it has one
    client.key
    data.key       a kiosk's or health station's data key (0600), sealing its outbox and presence at rest;
                   ``data_key`` in its TOML names it (under the install directory, never the data directory)
    pairing.json   the QR payload, also drawn as pairing.png

The pairing payload identifies and pins, it does not authorise: ``{"v", "site", "device", "kind", "space",
"broker": "mqtts://host:port", "ca_sha256"}``. A QR code ends up photographed on a sticker or a screen,
and the site has no pairing service that could redeem a one-time secret, so it carries no secret at all.
The CA fingerprint lets whoever installs the bundle check it is for this site's broker.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qrcode
import tomli_w

from firmware_bridge.settings import SensorNodeSettings
from kiosk.settings import KioskSettings
from provisioning import pki, validation
from provisioning.errors import InvalidInputError, StateError
from provisioning.mosquitto_files import write_private
from provisioning.registry import Device, PendingSecret
from provisioning.site import Site
from sealing import key_file_text

ZIP_INSTALL_DIR = Path("/etc/onestop")
ZIP_DATA_DIR = Path("/var/lib/onestop")
DATA_KEY = "data.key"


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle with its mode (0600 for anything secret)."""

    name: str
    data: bytes
    mode: int = 0o600


@dataclass(frozen=True)
class Hardware:
    """What is plugged into the device, as the technician gave it (``device bundle --reader/--sensor``)."""

    reader_driver: str | None = None  # None: em4100; "none": the kiosk has no card reader
    reader_port: str | None = None    # None: /dev/onestop-reader (deploy/kiosk/99-onestop-serial.rules)
    sensors: tuple[str, ...] = ()     # a sensor node's sensors as DRIVER=PORT


@dataclass(frozen=True)
class Bundle:
    """A rendered bundle, not yet written anywhere."""

    device: str
    files: list[BundleFile]
    pairing: dict[str, Any]
    hardware_summary: str = ""  # what the device will read from, for the technician to check


def pairing_payload(site: Site, device: Device, broker_host: str) -> dict[str, Any]:
    """What the QR code encodes: identification and a CA pin, no secret."""
    return {"v": 1, "site": site.name, "device": device.id, "kind": device.kind, "space": device.space,
            "broker": f"mqtts://{broker_host}:{site.settings['tls_port']}",
            "ca_sha256": pki.fingerprint(site.paths.ca_cert.read_bytes())}


def device_config(site: Site, device: Device, secret: PendingSecret, broker_host: str,
                  install_dir: Path, data_dir: Path, hardware: Hardware | None = None) -> dict[str, Any]:
    """The device's TOML as a dict, validated against the model the device will load it with."""
    broker: dict[str, Any] = {"host": broker_host, "port": site.settings["tls_port"], "username": device.id,
                              "password": secret.password, "tls_ca": str(install_dir / "ca.crt")}
    if device.cert_pem:
        broker |= {"tls_cert": str(install_dir / "client.crt"), "tls_key": str(install_dir / "client.key")}
    hardware = hardware or Hardware()
    config: dict[str, Any] = {"site": site.name, "device": device.id, "data_dir": str(data_dir)}
    if device.kind in ("kiosk", "health-station"):
        if hardware.sensors:
            raise InvalidInputError(f"{device.id} is a {device.kind}: --sensor is for sensor nodes")
        config["space"] = device.space
        config["mode"] = device.kind
        capacity = {s.id: s.capacity for s in site.registry.spaces()}.get(device.space)
        if capacity is not None:
            config["capacity"] = capacity
        if device.display_name and "display_name" in KioskSettings.model_fields:
            config["display_name"] = device.display_name
        config["reader"] = validation.reader(hardware.reader_driver, hardware.reader_port)
        config["data_key"] = str(install_dir / DATA_KEY)
        KioskSettings.model_validate({**config, "broker": broker})
    else:
        if hardware.reader_driver or hardware.reader_port:
            raise InvalidInputError(f"{device.id} is a sensor node: --reader is for kiosks and health stations")
        config["sensors"] = validation.sensors(list(hardware.sensors), device.space)
        SensorNodeSettings.model_validate({**config, "broker": broker})
    return {**config, "broker": broker}


def render(site: Site, device_id: str, broker_host: str | None, install_dir: Path, data_dir: Path,
           hardware: Hardware | None = None) -> Bundle:
    """Render the bundle of ``device_id`` from its pending secret (``StateError`` if already delivered)."""
    device = site.registry.device(device_id)
    if not device.active:
        raise StateError(f"device {device_id} is revoked; it gets no bundle")
    secret = site.registry.pending_secret(device_id)
    if secret is None:
        raise StateError(f"the credentials of {device_id} were already delivered in a bundle ({device.bundled}); "
                         f"run `onestop provision device rotate {device_id}` to issue new ones (the old bundle "
                         "then stops working)")
    for option, path in (("--install-dir", install_dir), ("--data-dir", data_dir)):
        if not path.is_absolute():
            raise InvalidInputError(f"{option} must be an absolute path, not {path}")
    host = broker_host or (site.settings["hostnames"] or ["localhost"])[0]
    pairing = pairing_payload(site, device, host)
    config = device_config(site, device, secret, host, install_dir, data_dir, hardware)
    files = [BundleFile(f"{device_id}.toml", f"# {device_id} at {site.name}: generated by onestop provision; "
                        "holds the device's broker password.\n".encode() + tomli_w.dumps(config).encode()),
             BundleFile("ca.crt", site.paths.ca_cert.read_bytes(), 0o644)]
    if device.cert_pem and secret.client_key_pem:
        files += [BundleFile("client.crt", device.cert_pem.encode(), 0o644),
                  BundleFile("client.key", secret.client_key_pem.encode())]
    if "data_key" in config:  # made here, kept nowhere else: a lost key loses only what the outbox still held
        files.append(BundleFile(DATA_KEY, key_file_text()))
    text = json.dumps(pairing, separators=(",", ":"))
    files += [BundleFile("pairing.json", text.encode() + b"\n", 0o644),
              BundleFile("pairing.png", qr_png(text), 0o644)]
    return Bundle(device_id, files, pairing, hardware_summary(config, hardware or Hardware()))


def hardware_summary(config: dict[str, Any], hardware: Hardware) -> str:
    """One line saying what the device will read from, and which of it are defaults."""
    if "sensors" in config:
        return "sensors: " + ", ".join(f"{s['name']} ({s['driver']}) on {s['port']}" for s in config["sensors"])
    reader = config["reader"]
    if reader["driver"] == validation.NO_READER:
        return "card reader: none (the kiosk records no taps)"
    default = "" if hardware.reader_driver and hardware.reader_port else \
        " (defaults filled in: --reader DRIVER --reader-port PORT to change, --reader none for no reader)"
    return f"card reader: {reader['driver']} on {reader['port']}{default}"


def qr_png(text: str) -> bytes:
    """``text`` as a QR code PNG."""
    image = qrcode.make(text, error_correction=qrcode.constants.ERROR_CORRECT_M)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def qr_terminal(text: str) -> str:
    """``text`` as a QR code drawn with block characters, for a terminal."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def default_install_dir(out: Path, device: str) -> Path:
    """A directory bundle is used where it is written; a zip is unpacked on the device in /etc/onestop/DEVICE."""
    return ZIP_INSTALL_DIR / device if out.suffix == ".zip" else out.resolve()


def default_data_dir(out: Path, device: str) -> Path:
    """Where the device keeps its outbox: ``data/`` beside a directory bundle, /var/lib/onestop/DEVICE for a zip."""
    return ZIP_DATA_DIR / device if out.suffix == ".zip" else out.resolve() / "data"


def write(bundle: Bundle, out: Path) -> Path:
    """Write to ``out``: a ``.zip`` file (new), else a directory (new or without this device's files)."""
    if out.suffix == ".zip":
        if out.exists():
            raise InvalidInputError(f"{out} already exists; bundles are never overwritten")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in bundle.files:
                info = zipfile.ZipInfo(item.name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | item.mode) << 16  # regular file + mode, kept by unzip
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, item.data)
        write_private(out, buffer.getvalue())
        return out
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"{out} is a file; give a directory or a name ending in .zip")
    clash = [f.name for f in bundle.files if (out / f.name).exists()]
    if clash:
        raise InvalidInputError(f"{out} already holds {', '.join(clash)}; bundles are never overwritten")
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    for item in bundle.files:
        write_private(out / item.name, item.data, mode=item.mode)
    return out


def issue(site: Site, device_id: str, out: Path, broker_host: str | None = None,
          install_dir: Path | None = None, data_dir: Path | None = None, hardware: Hardware | None = None) -> Bundle:
    """Render, write and record the bundle; the clear secret leaves the registry only once it is written."""
    bundle = render(site, device_id, broker_host, install_dir or default_install_dir(out, device_id),
                    data_dir or default_data_dir(out, device_id), hardware)
    write(bundle, out)
    site.registry.mark_bundled(device_id, str(out.resolve()))
    return bundle
