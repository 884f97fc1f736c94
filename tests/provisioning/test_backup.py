"""A provisioning directory backed up (encrypted with a passphrase) restores into an empty directory: the same
CA key and registry, and the broker started from it admits the site's devices."""

from __future__ import annotations

import os
import stat

from typer.testing import CliRunner

from provisioning.cli import app
from provisioning.site import Site
from tests.provisioning.test_broker_live import device_probe, gateway_probe

PASS = {"ONESTOP_BACKUP_PASSPHRASE": "correct horse battery staple"}


def test_an_encrypted_provisioning_backup_restores_and_its_broker_admits_the_devices(psite, start_broker, tmp_path):
    psite.add_device("kiosk-a1", "kiosk", "study")
    password = psite.registry.pending_secret("kiosk-a1").password
    archive = tmp_path / "offline" / "provision.tar.enc"
    made = CliRunner(env=PASS).invoke(app, ["backup", "--dir", str(psite.paths.root), "--encrypt", str(archive)])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    assert b"PRIVATE KEY" not in archive.read_bytes() and b"kiosk-a1" not in archive.read_bytes()

    target = tmp_path / "restored"
    wrong = CliRunner(env={"ONESTOP_BACKUP_PASSPHRASE": "guess"}).invoke(
        app, ["restore", "--dir", str(target), str(archive)])
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output and not target.exists()
    done = CliRunner(env=PASS).invoke(app, ["restore", "--dir", str(target), str(archive)])
    assert done.exit_code == 0, done.output
    again = CliRunner(env=PASS).invoke(app, ["restore", "--dir", str(target), str(archive)])
    assert again.exit_code == 1 and "not empty" in again.output

    with Site.open(target) as restored:
        assert restored.paths.ca_key.read_bytes() == psite.paths.ca_key.read_bytes()
        assert stat.S_IMODE(os.stat(restored.paths.ca_key).st_mode) == 0o600
        assert [d.id for d in restored.registry.devices()] == ["kiosk-a1"]
        live = start_broker(restored)
        for probe in (device_probe(live, "kiosk-a1", password), gateway_probe(live)):
            try:
                assert probe.connect() == 0
            finally:
                probe.close()
