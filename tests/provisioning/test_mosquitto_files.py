"""The renderers and the atomic private writer."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from provisioning.mosquitto_files import (
    BrokerLayout,
    hash_password,
    render_acl,
    render_conf,
    render_passwd,
    verify_password,
    write_private,
)


def test_hash_verifies_only_its_password():
    hashed = hash_password("correct horse")
    assert hashed.startswith("$7$1000$")
    assert verify_password("correct horse", hashed)
    assert not verify_password("wrong", hashed)
    assert not verify_password("correct horse", "$6$not$ours")


@pytest.mark.skipif(not shutil.which("mosquitto_passwd"), reason="mosquitto_passwd not installed")
def test_hashes_written_by_mosquitto_passwd_verify(tmp_path):
    # Same format both ways: a file edited with mosquitto_passwd stays readable by our checks.
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "kiosk-a", "s3cret"], check=True,
                   capture_output=True)
    user, hashed = passwd.read_text().strip().split(":", 1)
    assert user == "kiosk-a" and verify_password("s3cret", hashed)


def test_password_file_is_sorted_by_user():
    assert render_passwd({"b-user": "$7$h2", "a-user": "$7$h1"}) == "a-user:$7$h1\nb-user:$7$h2\n"


def test_acl_gives_the_gateway_its_site_and_devices_their_own_topics():
    acl = render_acl("north-b3", ["north-b3-gateway"])
    assert "user north-b3-gateway\ntopic readwrite onestop/v1/north-b3/#\n" in acl
    for line in ("pattern write onestop/v1/+/dev/%u/evt/+", "pattern write onestop/v1/+/dev/%u/state",
                 "pattern read  onestop/v1/+/dev/%u/cfg", "pattern read  onestop/v1/+/space/+/occupancy",
                 "pattern read  onestop/v1/+/space/+/presence", "pattern read  onestop/v1/+/gateway/state"):
        assert line in acl.splitlines()


def test_conf_keeps_the_gateway_queue_settings_and_has_no_anonymous_access(tmp_path):
    conf = render_conf(BrokerLayout(tmp_path, 1883)).splitlines()
    assert "allow_anonymous false" in conf
    assert "max_queued_messages 2000000" in conf and "max_inflight_messages 0" in conf
    assert "max_packet_size 65536" in conf  # an event (16 KiB) fits; a device's 900 KB message does not
    assert conf[-2:] == ["listener 1883 127.0.0.1", "use_username_as_clientid true"]
    assert not any(line.startswith(("pid_file", "cafile")) for line in conf)


def test_conf_with_tls_pid_file_and_client_certificates(tmp_path):
    layout = BrokerLayout(tmp_path, 1883, tls_port=8883, cafile=tmp_path / "ca.crt", certfile=tmp_path / "s.crt",
                          keyfile=tmp_path / "s.key", run_as="mosquitto", tls_bind="10.0.0.2",
                          pid_file=tmp_path / "mosquitto.pid", require_certificate=True)
    conf = render_conf(layout).splitlines()
    assert f"pid_file {tmp_path / 'mosquitto.pid'}" in conf and "user mosquitto" in conf
    tls = conf[conf.index("listener 8883 10.0.0.2"):]
    assert f"cafile {tmp_path / 'ca.crt'}" in tls and "require_certificate true" in tls


def test_write_private_is_0600_whatever_the_umask_and_leaves_no_temporary_file(tmp_path):
    old = os.umask(0)
    try:
        write_private(tmp_path / "sub" / "passwd", "a:b\n")
        write_private(tmp_path / "sub" / "passwd", b"c:d\n")
    finally:
        os.umask(old)
    target = tmp_path / "sub" / "passwd"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "c:d\n"
    assert [p.name for p in target.parent.iterdir()] == ["passwd"]


def test_write_private_can_set_mode_and_owner(tmp_path):
    target = tmp_path / "ca.crt"
    write_private(target, "cert", mode=0o644, owner=(os.geteuid(), os.getegid()))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.stat().st_uid == os.geteuid()


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "acl"
    write_private(target, "old")

    def fail(*_args):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_private(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in Path(tmp_path).iterdir()] == ["acl"]
