"""Bundles: what a device receives, and only once per password."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from firmware_bridge.settings import SensorNodeSettings
from kiosk.settings import load as load_kiosk
from onestop.settings import load_settings
from provisioning import bundle, pki
from provisioning.errors import InvalidInputError, StateError
from sealing import load as load_data_key


def test_a_directory_bundle_loads_as_the_kiosks_configuration(psite, tmp_path):
    psite.add_space("study-24h-2f", 40)
    psite.add_device("kiosk-b3-lobby", "kiosk", "study-24h-2f", cert=True)
    password = psite.registry.pending_secret("kiosk-b3-lobby").password
    out = tmp_path / "bundle"
    made = bundle.issue(psite, "kiosk-b3-lobby", out, broker_host="127.0.0.1")
    settings = load_kiosk(out / "kiosk-b3-lobby.toml")
    assert (settings.site, settings.device, settings.mode, settings.space, settings.capacity) == (
        "test-site", "kiosk-b3-lobby", "kiosk", "study-24h-2f", 40)
    broker = settings.broker
    assert (broker.host, broker.port, broker.username) == ("127.0.0.1", psite.settings["tls_port"], "kiosk-b3-lobby")
    assert broker.password.get_secret_value() == password
    assert broker.tls_ca == out.resolve() / "ca.crt" and broker.tls_ca.read_bytes() == psite.paths.ca_cert.read_bytes()
    assert broker.tls_cert.is_file() and broker.tls_key.is_file()
    assert settings.data_dir == out.resolve() / "data"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes["kiosk-b3-lobby.toml"] == modes["client.key"] == modes["data.key"] == 0o600
    assert {f.name for f in made.files} == set(modes)
    assert settings.data_key == out.resolve() / "data.key"  # beside the configuration, not in data/
    load_data_key(settings.data_key).seal(b"a card", b"row")  # a key the kiosk can use


def test_the_secret_leaves_the_registry_with_the_bundle_and_a_second_bundle_is_refused(psite, tmp_path):
    psite.add_device("kiosk-a1", "kiosk", "study")
    bundle.issue(psite, "kiosk-a1", tmp_path / "first")
    assert psite.registry.pending_secret("kiosk-a1") is None
    with pytest.raises(StateError, match="already delivered.*device rotate kiosk-a1"):
        bundle.issue(psite, "kiosk-a1", tmp_path / "second")
    psite.rotate("kiosk-a1")
    bundle.issue(psite, "kiosk-a1", tmp_path / "second")


def test_the_qr_payload_identifies_and_pins_but_holds_no_secret(psite, tmp_path):
    psite.add_device("hs-b3-1", "health-station", "skills-lab-1", cert=True)
    secret = psite.registry.pending_secret("hs-b3-1")
    made = bundle.issue(psite, "hs-b3-1", tmp_path / "b", broker_host="gw.example")
    pairing = json.loads((tmp_path / "b" / "pairing.json").read_text())
    assert pairing == made.pairing == {
        "v": 1, "site": "test-site", "device": "hs-b3-1", "kind": "health-station", "space": "skills-lab-1",
        "broker": f"mqtts://gw.example:{psite.settings['tls_port']}",
        "ca_sha256": pki.fingerprint(psite.paths.ca_cert.read_bytes())}
    text = (tmp_path / "b" / "pairing.json").read_text()
    assert secret.password not in text and "BEGIN" not in text
    with Image.open(tmp_path / "b" / "pairing.png") as image:
        assert image.size[0] == image.size[1] > 100
    assert "█" in bundle.qr_terminal(text) or "▀" in bundle.qr_terminal(text)


def test_a_zip_bundle_keeps_file_modes_and_points_at_the_install_directory(psite, tmp_path):
    psite.add_device("sensor-b3-co2", "sensor", "study")
    out = tmp_path / "sensor.zip"
    bundle.issue(psite, "sensor-b3-co2", out, hardware=bundle.Hardware(sensors=("and-scale=/dev/ttyUSB3",)))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as archive:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        config = archive.read("sensor-b3-co2.toml").decode()
        archive.extractall(tmp_path / "unzipped")
    assert modes == {"sensor-b3-co2.toml": 0o600, "ca.crt": 0o644, "pairing.json": 0o644, "pairing.png": 0o644}
    assert 'tls_ca = "/etc/onestop/sensor-b3-co2/ca.crt"' in config
    assert 'data_dir = "/var/lib/onestop/sensor-b3-co2"' in config
    assert 'mode =' not in config  # a sensor node is not a kiosk
    settings = load_settings(SensorNodeSettings, tmp_path / "unzipped" / "sensor-b3-co2.toml", "ONESTOP_BRIDGE")
    assert [(s.name, s.driver, s.port, s.space) for s in settings.sensors] == [
        ("and-scale", "and-scale", "/dev/ttyUSB3", "study")]


def test_a_kiosk_bundle_names_its_card_reader_defaults_or_none(psite, tmp_path):
    for device in ("kiosk-a1", "kiosk-a2", "kiosk-a3"):
        psite.add_device(device, "kiosk", "study")
    made = bundle.issue(psite, "kiosk-a1", tmp_path / "a1")
    assert load_kiosk(tmp_path / "a1" / "kiosk-a1.toml").reader.model_dump(include={"driver", "port"}) == {
        "driver": "em4100", "port": "/dev/onestop-reader"}
    assert "defaults filled in" in made.hardware_summary
    bundle.issue(psite, "kiosk-a2", tmp_path / "a2", hardware=bundle.Hardware("pn532", "/dev/ttyAMA0"))
    reader = load_kiosk(tmp_path / "a2" / "kiosk-a2.toml").reader
    assert (reader.driver, reader.port, reader.problem()) == ("pn532", "/dev/ttyAMA0", None)
    bundle.issue(psite, "kiosk-a3", tmp_path / "a3", hardware=bundle.Hardware("none"))
    reader = load_kiosk(tmp_path / "a3" / "kiosk-a3.toml").reader
    assert reader.absent and reader.problem() is None
    for wrong, message in ((bundle.Hardware("cms50d"), "card reader driver"),
                           (bundle.Hardware(sensors=("em4100=/dev/x",)), "sensor nodes")):
        psite.rotate("kiosk-a1")
        with pytest.raises(InvalidInputError, match=message):
            bundle.issue(psite, "kiosk-a1", tmp_path / f"wrong-{message}", hardware=wrong)


def test_bundles_never_overwrite(psite, tmp_path):
    psite.add_device("kiosk-a1", "kiosk", "study")
    psite.add_device("kiosk-a2", "kiosk", "study")
    (tmp_path / "taken.zip").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="never overwritten"):
        bundle.issue(psite, "kiosk-a1", tmp_path / "taken.zip")
    assert psite.registry.pending_secret("kiosk-a1") is not None  # nothing written, secret kept
    bundle.issue(psite, "kiosk-a1", tmp_path / "shared")
    (tmp_path / "shared" / "kiosk-a2.toml").write_text("")
    with pytest.raises(InvalidInputError, match="already holds"):
        bundle.issue(psite, "kiosk-a2", tmp_path / "shared")
    with pytest.raises(InvalidInputError, match="absolute"):
        bundle.issue(psite, "kiosk-a2", tmp_path / "other", install_dir=Path("relative"))


def test_a_revoked_device_gets_no_bundle(psite, tmp_path):
    psite.add_device("kiosk-a1", "kiosk", "study")
    psite.revoke("kiosk-a1")
    with pytest.raises(StateError, match="revoked"):
        bundle.issue(psite, "kiosk-a1", tmp_path / "b")
