"""The gateway's storage bound under a flood while the central service is unreachable.

ARCHITECTURE.md, chain of custody 4: storage is bounded by configuration; when full, the policy is explicit
and counted, and urgent health events are the last to go. This test floods a gateway whose database may use
1 MiB, in three waves (telemetry with a few screenings, then check-ins, then screenings), and holds the
gateway to an exact account: every event the broker acknowledged is, at the end, either at central (once)
or counted under ``dropped`` in ``/api/v1/stats`` in the class the policy names — nothing missing, nothing
counted twice, no screening dropped while a lower-priority event was still stored.
"""

from __future__ import annotations

import time

import pytest

from gateway.ingest import PRIORITY
from onestop.events import Envelope
from tests.helpers import query, wait_until
from tests.system.rig import (
    RAW_KIOSK,
    RAW_SENSOR,
    RAW_STATION,
    RawDevice,
    central_rows,
    gateway_rows,
    gateway_stats,
    screening,
    service,
)

pytestmark = pytest.mark.slow

MAX_BYTES = 1024 * 1024  # the smallest bound the gateway accepts
BOUND_ENV = {"ONESTOP_GATEWAY__STORAGE__MAX_BYTES": str(MAX_BYTES),
             "ONESTOP_GATEWAY__STORAGE__CHECK_INTERVAL_S": "0.2"}
CLASS_OF_PRIORITY = {0: "unsynced-urgent", 1: "unsynced-presence", 2: "unsynced-low"}
OUR_DEVICES = {RAW_SENSOR, RAW_KIOSK, RAW_STATION}


def used_bytes(site) -> int:
    """The gateway database's pages in use, measured the way gateway/retention.py measures them."""
    db = site.path("gateway/gateway.db")
    (pages,), = query(db, "PRAGMA page_count")
    (free,), = query(db, "PRAGMA freelist_count")
    (size,), = query(db, "PRAGMA page_size")
    return (pages - free) * size


def dropped_total(stats: dict) -> int:
    return sum(stats["dropped"].values())


def wait_until_ingested(site, accepted: int) -> dict:
    """Wait until the gateway has taken every acknowledged event (stored or dropped) and is back under its
    bound, then until its counters hold still; returns the stats."""
    def caught_up() -> dict | None:
        stats = gateway_stats(site)
        return stats if stats["events"] + dropped_total(stats) >= accepted and used_bytes(site) <= MAX_BYTES else None

    wait_until(caught_up, timeout=90, interval=0.2,
               what=f"{accepted} acknowledged events stored or dropped, database within its bound")
    previous, stats = None, gateway_stats(site)
    for _ in range(30):
        if stats == previous:
            return stats
        previous = stats
        time.sleep(1.0)
        stats = gateway_stats(site)
    raise AssertionError(f"the gateway's counters do not settle: {previous} then {stats}")


def stored_by_class(site) -> dict[str, int]:
    counts = {name: 0 for name in CLASS_OF_PRIORITY.values()}
    for _id, _device, _seq, kind, synced in gateway_rows(site):
        if synced == 0:
            counts[CLASS_OF_PRIORITY[PRIORITY[kind]]] += 1
    return counts


def assert_exact_account(site, accepted: dict[str, Envelope], stats: dict) -> None:
    """Every acknowledged event is stored or counted as dropped, in the class of its priority."""
    stored = {row[0]: row for row in gateway_rows(site)}
    assert set(stored) <= set(accepted), "the gateway stores events nobody sent"
    assert stats["events"] == len(stored), "the 'events' count differs from what the store holds"
    missing = [env for event_id, env in accepted.items() if event_id not in stored]
    by_class = {name: 0 for name in CLASS_OF_PRIORITY.values()}
    for env in missing:
        by_class[CLASS_OF_PRIORITY[PRIORITY[env.type]]] += 1
    counted = {name: stats["dropped"].get(name, 0) for name in by_class}
    assert counted == by_class, f"dropped counters {counted} but the events gone are, by class, {by_class}"
    assert stats["duplicates"] == 0 and stats["quarantined"] == 0


def test_a_flood_beyond_the_storage_bound_is_dropped_by_policy_and_every_event_is_accounted_for(site):
    gateway = service(site, "gateway", BOUND_ENV)  # central.url names central's port: nothing listens there yet
    central = service(site, "central")
    devices: list[RawDevice] = []
    accepted: dict[str, Envelope] = {}

    def settle(*devices: RawDevice) -> None:
        for device in devices:
            ok, refused = device.settle()
            assert not refused, f"the broker refused {len(refused)} events of {device.device}"
            accepted.update((e.id, e) for e in ok)

    site.broker.start()
    try:
        gateway.start()
        devices += [RawDevice(site, d) for d in (RAW_SENSOR, RAW_KIOSK, RAW_STATION)]
        sensor, kiosk, station = devices
        # Wave 1: telemetry (lowest priority) with screenings among it: only telemetry may go.
        for i in range(7000):
            if i % 2:
                sensor.publish("heartbeat", {"uptime_s": i, "outbox": 0})
            else:
                sensor.publish("reading", {"sensor": "co2-1", "code": "co2", "value": 400 + i % 300,
                                           "unit": "[ppm]", "space": "study-24h-2f"})
            if i % 35 == 0:
                station.publish("screening", screening(f"5A{i:06X}"))
        settle(sensor, station)
        stats = wait_until_ingested(site, len(accepted))
        assert gateway_stats(site)["central"] == "unreachable"
        assert set(stats["dropped"]) == {"unsynced-low"}, stats["dropped"]
        assert_exact_account(site, accepted, stats)

        # Wave 2: check-ins (presence) beyond what is left: all telemetry goes before any check-in.
        for i in range(2600):
            kiosk.publish("checkin", {"space": "study-24h-2f", "card": f"6B{i:06X}", "via": "tap",
                                      "reservation": None})
        settle(kiosk)
        stats = wait_until_ingested(site, len(accepted))
        assert stats["dropped"].get("unsynced-presence", 0) > 0, "wave 2 did not reach the bound"
        assert stats["dropped"].get("unsynced-urgent", 0) == 0
        assert stored_by_class(site)["unsynced-low"] == 0, "check-ins dropped while telemetry is kept"
        assert_exact_account(site, accepted, stats)

        # Wave 3: screenings alone beyond the bound: urgent events go only when nothing else is left.
        for i in range(1500):
            station.publish("screening", screening(f"7C{i:06X}", questionnaires=True))
        settle(station)
        stats = wait_until_ingested(site, len(accepted))
        assert stats["dropped"].get("unsynced-urgent", 0) > 0, "wave 3 did not reach the bound"
        left = stored_by_class(site)
        assert left["unsynced-low"] == left["unsynced-presence"] == 0, f"screenings dropped before {left}"
        assert_exact_account(site, accepted, stats)

        # Central returns. The gateway is restarted so its sync starts at once rather than after the
        # back-off (full jitter, capped at 60 s); its counters must survive the restart too.
        central.start()
        gateway.stop()
        gateway.start()
        wait_until(lambda: gateway_stats(site)["backlog"] == 0, timeout=90, interval=0.5,
                   what="the gateway's backlog synced to central")
        stats = gateway_stats(site)
        at_central = [row for row in central_rows(site) if row[1] in OUR_DEVICES]
        central_ids = {row[0] for row in at_central}
        assert len(central_ids) == len(at_central), "an event is at central twice"
        assert central_ids <= set(accepted), "central holds events nobody sent"
        lost = set(accepted) - central_ids
        counted_lost = sum(v for k, v in stats["dropped"].items() if k != "synced")
        assert len(lost) == counted_lost, (
            f"{len(accepted)} acknowledged = {len(central_ids)} at central + {len(lost)} gone, "
            f"but the gateway counted {counted_lost} dropped before sync ({stats['dropped']})")
        assert {row[0] for row in gateway_rows(site)} <= central_ids
    finally:
        for device in devices:
            device.close()
        gateway.stop()
        central.stop()
        site.broker.stop()


def test_screenings_are_dropped_only_as_far_as_the_bound_requires(site):
    """When only screenings are left to drop, the oldest go until the store fits, and the newest that fit
    are kept: a clinic loses no more urgent records than the bound forces it to."""
    gateway = service(site, "gateway", BOUND_ENV)
    devices: list[RawDevice] = []
    site.broker.start()
    try:
        gateway.start()
        devices.append(station := RawDevice(site, RAW_STATION))
        for i in range(1500):  # about 1.7 MB of screenings: a 1 MiB bound holds some 890 of them
            station.publish("screening", screening(f"8D{i:06X}", questionnaires=True))
        accepted, refused = station.settle()
        assert not refused
        stats = wait_until_ingested(site, len(accepted))
        dropped = stats["dropped"].get("unsynced-urgent", 0)
        assert dropped > 0, "the flood did not reach the bound"
        kept = sorted(seq for _id, _device, seq, _type, _synced in gateway_rows(site))
        assert kept, f"all {dropped} screenings were dropped to bring about 1.7 MB under a 1 MiB bound"
        assert used_bytes(site) > MAX_BYTES // 2, (
            f"{dropped} of {len(accepted)} screenings dropped, leaving {used_bytes(site)} bytes used of a "
            f"{MAX_BYTES}-byte bound: far more urgent records deleted than the bound required")
        assert kept == list(range(len(accepted) - len(kept) + 1, len(accepted) + 1)), "not the oldest dropped"
    finally:
        for device in devices:
            device.close()
        gateway.stop()
        site.broker.stop()
