"""Central backed up while it serves (SQLite: online backup; PostgreSQL: pg_dump) restores into a fresh
database, and the service on it has everything: events, alerts, the audit log, the migration level."""

from __future__ import annotations

import os
import stat

import pytest

from central.api import create_app
from central.backup import backup, restore
from central.store import CentralStore
from onestop.backups import BackupError
from tests.central.factories import alert, batch, checks, records_body
from tests.helpers import served


def test_central_backed_up_while_serving_restores_into_a_fresh_database(settings, store, as_role, tokens,
                                                                        database_url, request, tmp_path):
    gateway = as_role("gateway:north-b3")
    assert gateway.post("/api/v1/ingest", json=batch("north-b3", checks("kiosk-1", "study-24h-2f", 25))
                        ).status_code == 200
    raised = alert(team="clinic", rule="bp-crisis", severity="urgent", subject="922E5832")
    assert gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", [raised])).status_code == 200
    assert [a["id"] for a in as_role("clinic").get("/api/v1/alerts").json()] == [raised.id]  # an audited read
    before = {"stats": as_role("admin").get("/api/v1/stats").json(),
              "audit": as_role("admin").get("/api/v1/audit").json()}
    assert before["audit"]

    archive = tmp_path / "backups" / "central.tar"
    manifest = backup(settings, archive)  # the service above is still serving
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600 and manifest.keys == []
    assert manifest.migrations and all(manifest.migrations.values())

    if database_url.startswith("sqlite"):
        fresh_url = f"sqlite:///{tmp_path / 'restored' / 'central.db'}"
    else:
        fresh_url = request.getfixturevalue("postgres").create_database()
    fresh = settings.model_copy(update={"database_url": fresh_url})
    restore(fresh, archive)
    with pytest.raises(BackupError, match="not empty|exists"):
        restore(fresh, archive)  # never over a database in use, unless forced

    restored = CentralStore(fresh_url)
    try:
        with served(create_app(fresh, restored)) as http:
            http.headers["Authorization"] = f"Bearer {tokens['admin']}"
            stats = http.get("/api/v1/stats").json()
            assert stats["events"] == before["stats"]["events"] == 25
            audit = http.get("/api/v1/audit").json()
            assert [(a["principal"], a["route"]) for a in audit[-len(before["audit"]):]] == \
                   [(a["principal"], a["route"]) for a in before["audit"]]
            http.headers["Authorization"] = f"Bearer {tokens['clinic']}"
            alerts = http.get("/api/v1/alerts").json()
            assert [(a["id"], a["subject"]) for a in alerts] == [(raised.id, "922E5832")]
    finally:
        restored.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_pseudonym_key_is_backed_up_and_restored_only_when_asked(settings, client, tmp_path):
    assert settings.pseudonym_key_file.exists()
    data_only, with_keys = tmp_path / "data.tar", tmp_path / "keys.tar"
    backup(settings, data_only)
    assert backup(settings, with_keys, include_keys=True).keys == ["pseudonym.key"]
    assert settings.pseudonym_key_file.read_bytes() not in data_only.read_bytes()
    fresh = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'fresh' / 'central.db'}",
                                        "pseudonym_key_file": tmp_path / "fresh-keys" / "pseudonym.key"})
    with pytest.raises(BackupError, match="no pseudonym key"):
        restore(fresh, data_only, include_keys=True)
    restore(fresh, with_keys, include_keys=True)
    assert fresh.pseudonym_key_file.read_bytes() == settings.pseudonym_key_file.read_bytes()
    assert stat.S_IMODE(os.stat(fresh.pseudonym_key_file).st_mode) == 0o600
