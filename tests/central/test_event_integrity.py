"""What central does with events that do not fit: a space the site's configuration lacks, an id it already
holds with other content. Nothing is lost, nothing is invented, everything is counted (both databases)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import sqlalchemy as sa

from central.ingest import IngestItem, sort_batch
from central.schema import events
from central.store import CentralStore
from onestop.site import SiteConfig, SpaceConfig
from tests.central.factories import GZIP, T0, batch, checks, event, gz

CONFIG = SiteConfig(spaces=[SpaceConfig(id="study-24h-2f", name="Study", capacity=30)])


def ingest(gateway, envelopes):
    answer = gateway.post("/api/v1/ingest", content=gz(batch("north-b3", envelopes)), headers=GZIP)
    assert answer.status_code == 200, answer.text
    return answer.json()


def stored_card(store: CentralStore, event_id: str) -> str:
    with store.db.read() as conn:
        return conn.execute(sa.select(events.c.data).where(events.c.id == event_id)).scalar_one()["card"]


def test_an_event_for_an_unknown_space_is_stored_and_counted_but_invents_no_space(as_role, store):
    store.configs.put("north-b3", CONFIG, "test")
    gateway = as_role("gateway:north-b3")
    known, ghost = checks("kiosk-1", "study-24h-2f", 2), checks("kiosk-2", "ghost-room", 3)
    assert ingest(gateway, known + ghost)["new"] == 5
    ingest(gateway, ghost)  # sent again: duplicates, not counted twice

    assert {e.id for e in known + ghost} <= store.event_ids()
    assert as_role("admin").get("/api/v1/stats").json()["unknown_space"] == 3
    staff = as_role("staff")
    now = staff.get("/api/v1/occupancy", params={"at": (T0 + timedelta(minutes=10)).isoformat()}).json()
    assert [(s["space"], s["count"]) for s in now] == [("study-24h-2f", 2)]
    for route in ("occupancy", "utilisation", "forecast"):
        assert staff.get(f"/api/v1/spaces/north-b3/ghost-room/{route}").status_code == 404


def test_a_site_without_configuration_shows_no_spaces_at_all(as_role, store):
    ingest(as_role("gateway:north-b3"), checks("kiosk-1", "study-24h-2f", 2))
    assert as_role("admin").get("/api/v1/stats").json()["unknown_space"] == 2
    assert as_role("staff").get("/api/v1/occupancy", params={"at": T0.isoformat()}).json() == []


def test_same_id_with_other_content_is_a_conflict_and_the_stored_copy_stays(as_role, store, caplog):
    gateway = as_role("gateway:north-b3")
    original = event("kiosk-1", 1, "checkin", {"space": "study-24h-2f", "card": "A1B2C3D4", "via": "tap"})
    forged = original.model_copy(update={"data": original.data.model_copy(update={"card": "FFFF0001"})})
    assert ingest(gateway, [original]) == {"new": 1, "duplicates": 0, "conflicts": 0, "erased": 0}
    with caplog.at_level(logging.WARNING, logger="central.store"):
        assert ingest(gateway, [forged]) == {"new": 0, "duplicates": 0, "conflicts": 1, "erased": 0}
    assert ingest(gateway, [original]) == {"new": 0, "duplicates": 1, "conflicts": 0, "erased": 0}

    assert stored_card(store, original.id) == "A1B2C3D4"
    assert as_role("admin").get("/api/v1/stats").json()["conflicts"] == 1
    listed = as_role("technician").get("/api/v1/events/conflicts").json()
    assert [(c["event_id"], c["device"], c["times"]) for c in listed] == [(original.id, "kiosk-1", 1)]
    assert original.id in caplog.text and "FFFF0001" not in caplog.text and "A1B2C3D4" not in caplog.text


def test_a_conflict_inside_one_batch_and_a_later_time_are_conflicts_too(as_role, store):
    gateway = as_role("gateway:north-b3")
    first = event("kiosk-1", 7, "checkin", {"space": "study-24h-2f", "card": "A1B2C3D4", "via": "tap"})
    moved = first.model_copy(update={"ts": first.ts + timedelta(seconds=1)})
    assert ingest(gateway, [first, moved]) == {"new": 1, "duplicates": 0, "conflicts": 1, "erased": 0}
    assert ingest(gateway, [moved]) == {"new": 0, "duplicates": 0, "conflicts": 1, "erased": 0}
    assert as_role("technician").get("/api/v1/events/conflicts").json()[0]["times"] == 2


def test_resent_events_received_at_another_time_are_plain_duplicates(store):
    envelopes = checks("kiosk-1", "study-24h-2f", 3)
    assert store.ingest("north-b3", [IngestItem(received=T0, envelope=e) for e in envelopes]).new == 3
    later = [IngestItem(received=T0 + timedelta(hours=1), envelope=e) for e in envelopes]
    result = store.ingest("north-b3", later)
    assert (result.new, result.duplicates, result.conflicts) == (0, 3, 0)


def test_sorting_an_all_new_batch_only_counts_unknown_spaces():
    rows = [(f"id-{i}", "north-b3", "kiosk-1", i, "checkin", "ts", "r", "i", json.dumps({}), "at",
             "ghost" if i % 2 else "study", None) for i in range(10)]
    sort = sort_batch(rows, True, {}, frozenset({"study"}))
    assert (sort.conflicts, sort.unknown_space) == ([], 5)
