"""The registry on a real SQLite file."""

from __future__ import annotations

import stat

import pytest

from provisioning.errors import DuplicateError, NotFoundError, SiteDirectoryError
from provisioning.mosquitto_files import hash_password
from provisioning.registry import MIGRATIONS, DeviceCredentials, Registry, Space

SECRET = "pw-" + "x7Q9" * 8


@pytest.fixture
def registry(tmp_path):
    reg = Registry.create(tmp_path / "registry.db", {"site": "north-b3", "port": 1883})
    yield reg
    reg.close()


def cred(password: str = SECRET) -> DeviceCredentials:
    return DeviceCredentials(password, hash_password(password))


def test_a_new_registry_is_private_and_records_its_migrations(registry, tmp_path):
    assert stat.S_IMODE((tmp_path / "registry.db").stat().st_mode) == 0o600
    assert registry.migrations() == [m.key for m in MIGRATIONS]
    assert registry.settings() == {"site": "north-b3", "port": 1883}
    registry.close()
    again = Registry.open(tmp_path / "registry.db")  # re-opening applies nothing twice
    assert again.migrations() == [m.key for m in MIGRATIONS]
    again.close()


def test_create_refuses_an_existing_file_and_open_a_missing_one(registry, tmp_path):
    with pytest.raises(SiteDirectoryError, match="already exists"):
        Registry.create(tmp_path / "registry.db", {})
    with pytest.raises(SiteDirectoryError, match="provision init"):
        Registry.open(tmp_path / "nothing.db")


def test_devices_are_unique_and_an_import_is_all_or_nothing(registry):
    registry.add_devices([("kiosk-a", "kiosk", "study", None, cred())])
    with pytest.raises(DuplicateError, match="kiosk-a"):
        registry.add_devices([("kiosk-b", "kiosk", "study", None, cred()),
                              ("kiosk-a", "kiosk", "study", None, cred())])
    assert [d.id for d in registry.devices()] == ["kiosk-a"]
    with pytest.raises(NotFoundError):
        registry.device("kiosk-b")


def test_the_clear_password_is_gone_from_the_file_once_bundled(registry, tmp_path):
    registry.add_devices([("kiosk-a", "kiosk", "study", None, cred())])
    assert registry.pending_secret("kiosk-a").password == SECRET
    assert registry.device("kiosk-a").secret_pending
    registry.mark_bundled("kiosk-a", "/tmp/bundle")
    assert registry.pending_secret("kiosk-a") is None
    device = registry.device("kiosk-a")
    assert device.bundled and not device.secret_pending
    registry.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("registry.db*"))
    assert SECRET.encode() not in on_disk


def test_broker_users_are_the_service_users_and_active_devices(registry):
    registry.add_service_user("north-b3-gateway", "gateway", "$7$gw")
    registry.add_devices([("kiosk-a", "kiosk", "study", None, cred()),
                          ("kiosk-b", "kiosk", "study", None, cred())])
    registry.revoke("kiosk-b")
    users = registry.broker_passwords()
    assert set(users) == {"north-b3-gateway", "kiosk-a"}
    assert registry.device("kiosk-b").status == "revoked" and registry.pending_secret("kiosk-b") is None


def test_rotation_replaces_the_hash_and_the_pending_secret(registry):
    registry.add_devices([("kiosk-a", "kiosk", "study", None, cred("first-password"))])
    registry.mark_bundled("kiosk-a", "x")
    registry.replace_credentials("kiosk-a", cred("second-password"))
    assert registry.pending_secret("kiosk-a").password == "second-password"
    assert registry.device("kiosk-a").bundled is None


def test_spaces_tokens_and_the_audit_log(registry):
    registry.add_space(Space("study", 40, "Study room"))
    with pytest.raises(DuplicateError):
        registry.add_space(Space("study", 10, None))
    registry.add_token("gateway-north-b3", "gateway", "ab" * 32)
    with pytest.raises(DuplicateError, match="--name"):
        registry.add_token("gateway-north-b3", "gateway", "cd" * 32)
    assert registry.spaces() == [Space("study", 40, "Study room")]
    assert [a[1] for a in registry.audit_log()] == ["init", "space-add", "token-add"]
