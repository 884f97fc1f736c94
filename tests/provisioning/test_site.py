"""``init`` and the device operations on real files, without a broker."""

from __future__ import annotations

import stat
import tomllib

import pytest

from onestop.mqtt_settings import BrokerSettings
from provisioning import pki
from provisioning.errors import (
    DuplicateError,
    ImportRowsError,
    InvalidIdError,
    InvalidInputError,
    SiteDirectoryError,
    StateError,
    UnknownSpaceError,
)
from provisioning.mosquitto_files import render_acl, verify_password
from provisioning.site import InitOptions, Site, init_site
from tests.provisioning.conftest import make_site


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def passwd_entries(psite: Site) -> dict[str, str]:
    return dict(line.split(":", 1) for line in psite.layout.passwd.read_text().splitlines())


def test_init_creates_the_ca_broker_files_and_gateway_credentials_privately(psite):
    root = psite.paths.root
    assert mode(root) == 0o700 and mode(root / "ca") == 0o700 and mode(psite.paths.broker) == 0o700
    for secret in (psite.paths.ca_key, psite.paths.registry, psite.paths.gateway_credentials, psite.layout.passwd,
                   psite.layout.acl, psite.layout.conf, psite.layout.keyfile):
        assert mode(secret) == 0o600, secret
    conf = psite.layout.conf.read_text()
    assert "allow_anonymous false" in conf and f"pid_file {psite.layout.pid_file}" in conf
    assert f"listener {psite.settings['tls_port']} 127.0.0.1" in conf
    assert psite.layout.acl.read_text() == render_acl(psite.name, [f"{psite.name}-gateway"],
                                                      state_writers=[f"{psite.name}-provisioner"])
    gateway = BrokerSettings.model_validate(tomllib.loads(psite.paths.gateway_credentials.read_text())["broker"])
    assert gateway.username == "test-site-gateway" and gateway.port == psite.settings["port"]
    assert verify_password(gateway.password.get_secret_value(), passwd_entries(psite)["test-site-gateway"])
    assert psite.layout.cafile.read_bytes() == psite.paths.ca_cert.read_bytes()


def test_init_refuses_an_initialised_directory_unless_forced(psite):
    root = psite.paths.root
    old_fingerprint = pki.fingerprint(psite.paths.ca_cert.read_bytes())
    with pytest.raises(SiteDirectoryError, match="already initialised.*--force"):
        init_site(root, InitOptions("test-site"))
    assert pki.fingerprint(psite.paths.ca_cert.read_bytes()) == old_fingerprint
    psite.close()
    fresh = init_site(root, InitOptions("test-site", broker_user=None), force=True)
    assert pki.fingerprint(fresh.paths.ca_cert.read_bytes()) != old_fingerprint
    backups = [p for p in root.iterdir() if p.name.startswith("replaced-")]
    assert len(backups) == 1 and (backups[0] / "ca" / "ca.key").is_file()
    fresh.close()


def test_init_checks_its_options_before_writing_anything(tmp_path):
    for options in (InitOptions("North B3"), InitOptions("north-b3", port=8883, tls_port=8883),
                    InitOptions("north-b3", hostnames=["not a host"])):
        with pytest.raises(InvalidInputError):
            init_site(tmp_path / "p", options)
    assert not (tmp_path / "p").exists()


def test_opening_an_uninitialised_directory_or_one_without_its_ca_fails_clearly(psite, tmp_path):
    with pytest.raises(SiteDirectoryError, match="provision init"):
        Site.open(tmp_path / "elsewhere")
    psite.paths.ca_key.unlink()
    with pytest.raises(SiteDirectoryError, match="CA is gone"):
        Site.open(psite.paths.root)


def test_adding_a_device_puts_its_hash_in_the_password_file(psite):
    device = psite.add_device("kiosk-b3-lobby", "kiosk", "study-24h-2f")
    secret = psite.registry.pending_secret("kiosk-b3-lobby")
    assert device.active and device.secret_pending and not device.cert_pem
    assert verify_password(secret.password, passwd_entries(psite)["kiosk-b3-lobby"])
    assert secret.password not in psite.layout.passwd.read_text()


def test_bad_ids_duplicates_and_the_gateway_user_are_refused(psite):
    psite.add_device("kiosk-a1", "kiosk", "study")
    with pytest.raises(InvalidIdError):
        psite.add_device("Kiosk A1", "kiosk", "study")
    with pytest.raises(DuplicateError, match="already exists"):
        psite.add_device("kiosk-a1", "sensor", "study")
    with pytest.raises(DuplicateError, match="gateway"):
        psite.add_device("test-site-gateway", "kiosk", "study")
    with pytest.raises(InvalidInputError, match="kind"):
        psite.add_device("kiosk-a2", "toaster", "study")


def test_any_valid_space_until_spaces_are_declared_then_only_declared_ones(psite):
    psite.add_device("kiosk-a1", "kiosk", "anything-goes")
    psite.add_space("study-24h-2f", 40)
    psite.add_device("kiosk-a2", "kiosk", "study-24h-2f")
    with pytest.raises(UnknownSpaceError, match="declared spaces are study-24h-2f"):
        psite.add_device("kiosk-a3", "kiosk", "anything-goes")


def test_rotate_and_revoke_change_the_password_file(psite):
    psite.add_device("kiosk-a1", "kiosk", "study", cert=True)
    first = psite.registry.pending_secret("kiosk-a1").password
    old_serial = psite.registry.device("kiosk-a1").cert_serial
    rotated = psite.rotate("kiosk-a1")
    second = psite.registry.pending_secret("kiosk-a1").password
    assert first != second and rotated.cert_serial != old_serial
    assert verify_password(second, passwd_entries(psite)["kiosk-a1"])
    assert not verify_password(first, passwd_entries(psite)["kiosk-a1"])
    psite.revoke("kiosk-a1")
    assert "kiosk-a1" not in passwd_entries(psite)
    with pytest.raises(StateError, match="already revoked"):
        psite.revoke("kiosk-a1")
    with pytest.raises(StateError, match="revoked"):
        psite.rotate("kiosk-a1")
    with pytest.raises(DuplicateError, match="never reused"):
        psite.add_device("kiosk-a1", "kiosk", "study")


def test_an_import_with_any_bad_row_adds_nothing_and_lists_every_problem(psite):
    psite.add_space("study", 40)
    psite.add_device("kiosk-old", "kiosk", "study")
    text = ("device,kind,space,display_name\n"
            "kiosk-new-1,kiosk,study,Lobby\n"
            "kiosk-old,kiosk,study,\n"
            "kiosk-new-2,kiosk,garden,\n"
            "X,kiosk,study,\n")
    with pytest.raises(ImportRowsError) as caught:
        psite.import_devices(text, "devices.csv")
    assert [p.split(":")[0] for p in caught.value.problems] == ["line 3", "line 4", "line 5"]
    assert "nothing imported, 3 problem(s)" in str(caught.value)
    assert [d.id for d in psite.registry.devices()] == ["kiosk-old"]


def test_a_clean_import_adds_every_device_with_credentials(psite):
    seen: list[str] = []
    text = "device,kind,space\n" + "".join(f"sensor-{i:03},sensor,study\n" for i in range(20))
    added = psite.import_devices(text, "devices.csv", cert=True, on_row=seen.append)
    assert added == seen == [f"sensor-{i:03}" for i in range(20)]
    entries = passwd_entries(psite)
    for device in psite.registry.devices():
        secret = psite.registry.pending_secret(device.id)
        assert device.cert_pem and verify_password(secret.password, entries[device.id])


def test_an_empty_import_is_refused(psite):
    with pytest.raises(ImportRowsError, match="no device rows"):
        psite.import_devices("device,kind,space\n", "empty.csv")


def test_files_are_reproducible_from_the_registry(psite):
    psite.add_device("kiosk-a1", "kiosk", "study")
    before = psite.layout.passwd.read_text()
    psite.layout.passwd.write_text("tampered\n")
    Site.open(psite.paths.root).write_broker_files()
    assert psite.layout.passwd.read_text() == before


def test_a_second_site_directory_is_independent(tmp_path):
    one = make_site(tmp_path / "one", "site-one")
    two = make_site(tmp_path / "two", "site-two")
    assert pki.fingerprint(one.paths.ca_cert.read_bytes()) != pki.fingerprint(two.paths.ca_cert.read_bytes())
    one.close()
    two.close()
