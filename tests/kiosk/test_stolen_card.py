"""A stolen SD card: a kiosk's, a health station's and the gateway's data directories copied without their
keys show no card, vital or answer (issue #16). Real Mosquitto, gateway process and kiosk runtimes.

The search is for the bytes as the devices would have written them in clear (the card numbers, the
measurement's LOINC code and value, the answers as the events carry them); with the key the same copy opens
and holds them, so the search looks for what is really there."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.localsite import KioskPlan, LocalSite, gateway_process
from harness.netutil import free_port
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop import topics
from onestop.events import Measurement, new_event
from tests.helpers import query, raw_client, stop_all_within, wait_until

KIOSK, STATION = "kiosk-stolen-1", "health-stolen-1"
INSIDE, LEFT, SCREENED, HOSTILE = "7A11C0FFEE", "5B22D0BEEF", "3C33E0CAFE", "1D44F0FACE"
SYSTOLIC, SPO2 = 187, 91
ANSWERS = [3, 2, 1, 2, 3, 1, 2, 3, 1]


@pytest.fixture
def site(tmp_path: Path) -> LocalSite:
    plan = LocalSite(tmp_path / "site", "test-site", broker_port=free_port(), gateway_port=free_port(),
                     central_port=free_port(),
                     kiosks=[KioskPlan(KIOSK, "study-24h-2f"), KioskPlan(STATION, "skills-lab-1",
                                                                           mode="health-station")])
    plan.write()
    return plan


def clear_marks() -> dict[str, bytes]:
    """What would show a student's data if it were stored in clear."""
    marks = {card: card.encode() for card in (INSIDE, LEFT, SCREENED, HOSTILE)}
    marks |= {card.lower(): card.lower().encode() for card in (INSIDE, LEFT, SCREENED, HOSTILE)}
    marks |= {"systolic": b"8480-6", "spo2": b"59408-5", "systolic value": f":{SYSTOLIC}".encode(),
              "answers": json.dumps(ANSWERS, separators=(",", ":")).encode(), "answers key": b'"answers"',
              "card key": b'"card"', "subject key": b'"subject"'}
    return marks


def scan(root: Path) -> dict[str, list[str]]:
    """Every clear mark found in the raw bytes of every file under ``root``: mark -> files."""
    found: dict[str, list[str]] = {}
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    for path in files:
        raw = path.read_bytes()
        for name, mark in clear_marks().items():
            if mark in raw:
                found.setdefault(name, []).append(str(path.relative_to(root)))
    return found


def test_a_copied_data_directory_without_its_key_shows_no_card_vital_or_answer(site, tmp_path):
    site.broker.start()
    gateway = gateway_process(site)
    gateway.start()
    runtimes: list[KioskRuntime] = []
    try:
        # A hostile payload naming a card: the gateway quarantines it (it keeps its start for operators).
        cred = site.device_users[KIOSK]
        hostile = raw_client(site.broker_port, cred.username, cred.password, KIOSK)
        bad = json.loads(new_event(KIOSK, 1, "checkin", {"space": "study-24h-2f", "card": HOSTILE, "via": "tap",
                                                         "reservation": None}).to_json())
        bad["data"]["via"] = "teleport"
        hostile.publish(topics.event(site.site, KIOSK, "checkin"), json.dumps(bad), qos=1).wait_for_publish(10)
        wait_until(lambda: query(site.path("gateway/gateway.db"), "SELECT 1 FROM quarantine"),
                   what="the hostile payload quarantined")
        hostile.loop_stop()
        hostile.disconnect()

        kiosk, station = (KioskRuntime(load_kiosk(site.path(f"kiosk-{d}.toml"))) for d in (KIOSK, STATION))
        runtimes += [kiosk, station]
        for runtime in runtimes:
            runtime.start()
            wait_until(lambda r=runtime: r.link.connected, what="connected")
        for card in (INSIDE, LEFT, LEFT):  # LEFT checks in and out; INSIDE stays inside
            assert kiosk.handle_card(card).event is not None
        station.handle_card(SCREENED)
        station.accept_consent()
        station.measurement(Measurement(code="8480-6", value=SYSTOLIC, unit="mm[Hg]", device_model="sim"))
        station.measurement(Measurement(code="59408-5", value=SPO2, unit="%", device_model="sim"))
        station.begin("PHQ-9")
        for answer in ANSWERS:
            station.answer(answer)
        assert station.finish() is not None
        db = site.path("gateway/gateway.db")
        wait_until(lambda: query(db, "SELECT count(*) FROM events WHERE type IN ('checkin', 'checkout', 'screening')"
                                 )[0][0] >= 4, what="taps and screening at the gateway")
        wait_until(lambda: query(db, "SELECT count(*) FROM alerts")[0][0] >= 1, what="the screening's alert")

        # The thief's copy, taken while everything runs (the -wal and -shm files included).
        stolen = tmp_path / "stolen"
        for name in ("kiosks", "gateway"):
            shutil.copytree(site.path(name), stolen / name)
        assert not any(p.name.endswith(".key") and "data" in p.name for p in stolen.rglob("*"))
        found = scan(stolen)
        assert not found, f"personal data in clear on the copied SD cards: {found}"

        # With the key, the same copy opens: the events are there to be found (the scan looked for real bytes).
        rows = query(stolen / "kiosks" / f"{STATION}.outbox.db", "SELECT id, payload FROM outbox WHERE type = ?",
                     "screening")
        assert rows
        opened = [site.sealer(STATION).open(payload, eid.encode()) for eid, payload in rows]
        assert any(SCREENED.encode() in p and b"8480-6" in p for p in opened)
        gw = [site.sealer().open(p, i.encode()) for i, p in query(stolen / "gateway" / "gateway.db",
                                                                 "SELECT id, payload FROM events")]
        assert any(INSIDE.encode() in p for p in gw) and any(b'"answers"' in p for p in gw)
        assert any(HOSTILE.encode() in site.sealer().open(p, b"quarantine")
                   for (p,) in query(stolen / "gateway" / "gateway.db", "SELECT payload FROM quarantine"))
    finally:
        stop_all_within(runtimes, 10)
        gateway.stop()
        site.broker.stop()
