"""Data keys: rotation reseals every store under the new key, an older release's clear rows are sealed on
upgrade without leaving their bytes behind, and a missing, open or wrong key stops a service with a message."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w

from device.outbox import Outbox
from gateway.alert_store import GatewayAlerts
from gateway.store import Store
from kiosk.controller import OwnTap, Stay
from kiosk.presence import PresenceStore
from onestop.records import AlertRecord
from onestop.reporting import CORRUPT_DATA_EXIT
from sealing import DataKeyError, create_key_file, load, rotate_key_file
from tests.helpers import query

CARD = "62E3086CED"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def raw_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


ALERT_ID = "01890a5d-ac96-774b-bcce-b302099a8057"


def alert(alert_id: str = ALERT_ID) -> AlertRecord:
    return AlertRecord(id=alert_id, site="s1", rule="bp-high", severity="urgent", team="clinic",
                       status="open", subject=CARD, space="skills-lab-1", raised_at=NOW, updated_at=NOW,
                       summary="blood pressure high")


def test_rotation_reseals_outbox_presence_and_gateway_under_the_new_key(tmp_path):
    key = tmp_path / "etc" / "data.key"
    key.parent.mkdir()
    create_key_file(key)
    data = tmp_path / "data"
    first = load(key)
    outbox = Outbox(data / "k.outbox.db", "kiosk-1", first)
    sent = [outbox.append("checkin", {"space": "lab", "card": CARD, "via": "tap", "reservation": None})
            for _ in range(3)]
    outbox.close()
    presence = PresenceStore(data / "k.presence.db", first)
    presence.record("lab", [], OwnTap(1, "checkin", CARD, NOW), Stay(NOW, "booking-7"))
    presence.close()
    store = Store(data / "gateway.db", sealer=first)
    store.append_own_event("s1-gateway", "checkout", {"space": "lab", "card": CARD, "via": "auto",
                                                      "reservation": None}, NOW.timestamp())
    assert GatewayAlerts(store).insert([alert()])
    store.close()

    for _ in range(2):  # the second rotation drops the first key: everything was resealed by then
        rotate_key_file(key)
        sealer = load(key)
        outbox = Outbox(data / "k.outbox.db", "kiosk-1", sealer)
        assert [p.payload for p in outbox.pending()] == [e.to_json() for e in sent]
        outbox.close()
        presence = PresenceStore(data / "k.presence.db", sealer)
        assert presence.load("lab") == {CARD: Stay(NOW, "booking-7")}
        assert [t.card for t in presence.load_own("lab")] == [CARD]
        presence.close()
        store = Store(data / "gateway.db", sealer=sealer)
        assert CARD.encode() in store.unsynced(10)[0][2]
        alerts = GatewayAlerts(store)
        assert alerts.get(alert().id) == alert()
        assert alerts.insert([alert("01890a5d-ac96-774b-bcce-b302099a8058")]) == []  # still one per student
        store.close()
        for db, sql in ((data / "k.outbox.db", "SELECT payload FROM outbox"),
                        (data / "k.presence.db", "SELECT sealed FROM presence"),
                        (data / "gateway.db", "SELECT payload FROM events"),
                        (data / "gateway.db", "SELECT record FROM alerts")):
            assert {bytes(v)[:5] for (v,) in query(db, sql)} == {sealer.header}, (db, sql)
    assert len(json.loads(key.read_text())["keys"]) == 2
    assert key.stat().st_mode & 0o777 == 0o600


def test_an_older_release_clear_outbox_is_sealed_on_upgrade_leaving_no_clear_bytes(tmp_path):
    path = tmp_path / "data" / "k.outbox.db"
    old = Outbox(path, "kiosk-1")  # no sealer: what a release before encryption at rest wrote
    event = old.append("checkin", {"space": "lab", "card": CARD, "via": "tap", "reservation": None})
    old.close()
    presence_path = tmp_path / "data" / "k.presence.db"
    old_presence = PresenceStore(presence_path)
    old_presence.record("lab", [], OwnTap(1, "checkin", CARD, NOW), Stay(NOW, None))
    old_presence.close()
    assert CARD.encode() in raw_bytes(path) and CARD.encode() in raw_bytes(presence_path)

    create_key_file(tmp_path / "data.key")
    sealer = load(tmp_path / "data.key")
    outbox = Outbox(path, "kiosk-1", sealer)
    presence = PresenceStore(presence_path, sealer)
    assert [p.payload for p in outbox.pending()] == [event.to_json()]
    assert presence.load("lab") == {CARD: Stay(NOW, None)}
    assert CARD.encode() not in raw_bytes(path), "the clear row lingers in the outbox's files"
    assert CARD.encode() not in raw_bytes(presence_path), "the clear row lingers in the presence files"
    outbox.close()
    presence.close()


def test_a_wrong_or_open_key_is_refused(tmp_path):
    mine, other = tmp_path / "mine.key", tmp_path / "other.key"
    create_key_file(mine)
    create_key_file(other)
    outbox = Outbox(tmp_path / "data" / "k.outbox.db", "kiosk-1", load(mine))
    outbox.append("checkin", {"space": "lab", "card": CARD, "via": "tap", "reservation": None})
    outbox.close()
    with pytest.raises(DataKeyError, match="does not hold"):
        Outbox(tmp_path / "data" / "k.outbox.db", "kiosk-1", load(other))
    other.chmod(0o644)
    with pytest.raises(DataKeyError, match="chmod 600"):
        load(other)
    with pytest.raises(DataKeyError, match="never overwritten"):
        create_key_file(mine)


def test_a_kiosk_without_its_key_does_not_start_and_says_why(tmp_path):
    config = tmp_path / "kiosk.toml"
    base = {"site": "test-site", "device": "kiosk-b3-lobby", "space": "study-24h-2f",
            "data_dir": str(tmp_path / "data"), "reader": {"driver": "none"},
            "broker": {"host": "127.0.0.1", "port": 1, "username": "kiosk-b3-lobby", "password": "not-used"}}
    for extra, says in (({"data_key": str(tmp_path / "missing.key")}, "missing"),
                        ({"data_key": str(tmp_path / "data" / "data.key")}, "inside the data directory")):
        config.write_text(tomli_w.dumps(base | extra))
        if "data" in extra["data_key"]:
            (tmp_path / "data").mkdir(exist_ok=True)
            create_key_file(tmp_path / "data" / "data.key")
        proc = subprocess.run([sys.executable, "-m", "onestop", "kiosk", "run", "--headless", "--config",
                               str(config)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == CORRUPT_DATA_EXIT, proc.stderr
        assert says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_gateway_store_refuses_another_key_and_a_key_altered_under_the_same_id(tmp_path):
    mine, other = tmp_path / "mine.key", tmp_path / "other.key"
    create_key_file(mine)
    create_key_file(other)
    store = Store(tmp_path / "data" / "gateway.db", sealer=load(mine))
    store.append_own_event("s1-gateway", "checkout", {"space": "lab", "card": CARD, "via": "auto",
                                                      "reservation": None}, NOW.timestamp())
    store.close()
    with pytest.raises(DataKeyError, match="does not hold"):
        Store(tmp_path / "data" / "gateway.db", sealer=load(other))
    doc = json.loads(mine.read_text())
    doc["keys"][doc["current"]] = json.loads(other.read_text())["keys"].popitem()[1]  # same id, other bytes
    mine.write_text(json.dumps(doc))
    with pytest.raises(DataKeyError, match="does not open"):
        Store(tmp_path / "data" / "gateway.db", sealer=load(mine))


def test_the_data_key_commands_make_and_rotate_a_key_file(tmp_path):
    from typer.testing import CliRunner

    from onestop.cli import app

    path = tmp_path / "etc" / "data.key"
    path.parent.mkdir()
    made = CliRunner().invoke(app, ["gateway", "data-key", "new", str(path)])
    assert made.exit_code == 0 and f'data_key = "{path}"' in made.output, made.output
    first = json.loads(path.read_text())["current"]
    again = CliRunner().invoke(app, ["gateway", "data-key", "new", str(path)])
    assert again.exit_code == CORRUPT_DATA_EXIT and "never overwritten" in again.output
    rotated = CliRunner().invoke(app, ["kiosk", "data-key", "rotate", str(path)])
    assert rotated.exit_code == 0 and "restart the service" in rotated.output, rotated.output
    doc = json.loads(path.read_text())
    assert doc["current"] != first and set(doc["keys"]) == {first, doc["current"]}
    assert path.stat().st_mode & 0o777 == 0o600
