"""Two kiosks at one door (real Mosquitto, gateway and central): a card checked in at kiosk A and tapped at
kiosk B is checked out, not checked in twice; the presence topic the kiosks decide from carries no card
number; and kiosk B still decides from its last good copy with the broker down, even after a restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop import topics
from tests.helpers import Collector, gateway_events, query, raw_client, wait_until

pytestmark = pytest.mark.slow
CARD = "62E3086CED"
SPACE = "study-24h-2f"


def taps_at_gateway(site) -> list[tuple[str, str, str]]:
    rows = gateway_events(site, "SELECT id, device, type, payload FROM events WHERE type IN ('checkin', 'checkout') "
                                "ORDER BY received")
    return [(device, kind, event["data"]["card"]) for device, kind, event in rows]


def double_checkins(site) -> int:
    rows = query(site.path("gateway/gateway.db"), "SELECT value FROM counters WHERE name = 'double-checkin'")
    return rows[0][0] if rows else 0


def ready(runtime: KioskRuntime) -> bool:
    """Connected, holding its space's key and a presence copy made with it."""
    return runtime.link.connected and runtime.controller.authority is not None


def sees_inside(runtime: KioskRuntime, card: str) -> bool:
    with runtime._lock:
        return runtime.controller.is_inside(card, datetime.now(UTC))


def test_a_card_checked_in_at_kiosk_a_and_tapped_at_kiosk_b_is_checked_out(site, gateway, kiosk_factory):
    a, b = kiosk_factory("kiosk-test-a"), kiosk_factory("kiosk-test-b")
    wait_until(lambda: ready(a) and ready(b), what="both kiosks hold their space's presence")
    assert a.handle_card(CARD).decision.feedback == "welcome"
    wait_until(lambda: sees_inside(b, CARD), what="kiosk B learns the check-in from the gateway")
    tap = b.handle_card(CARD)
    assert (tap.decision.feedback, tap.decision.event_type) == ("goodbye", "checkout")
    wait_until(lambda: len(taps_at_gateway(site)) >= 2, what="both taps at the gateway")
    assert taps_at_gateway(site) == [("kiosk-test-a", "checkin", CARD), ("kiosk-test-b", "checkout", CARD)]
    assert double_checkins(site) == 0
    wait_until(lambda: not sees_inside(a, CARD), what="kiosk A learns the check-out")
    assert a.handle_card(CARD).decision.feedback == "welcome"  # back in, not said goodbye to


def test_the_presence_topic_carries_no_card_number(site, gateway, kiosk_factory):
    watcher = raw_client(site.broker_port, site.observer.username, site.observer.password, "watcher")
    try:
        seen = Collector(watcher, topics.presence(site.site, SPACE))
        a = kiosk_factory("kiosk-test-a")
        wait_until(lambda: ready(a), what="kiosk A ready")
        a.handle_card(CARD)
        wait_until(lambda: any(json.loads(p)["count"] == 1 for p in seen.on("/presence")), what="presence of one")
        raw = b"".join(seen.on("/presence"))
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    assert CARD.encode() not in raw and CARD.lower().encode() not in raw
    assert a.controller.is_inside(CARD, datetime.now(UTC))  # yet the kiosk, holding the key, can match it


def test_with_the_broker_down_kiosk_b_decides_from_its_last_good_copy(site, gateway, kiosk_factory):
    a = kiosk_factory("kiosk-test-a")
    b = KioskRuntime(load_kiosk(site.path("kiosk-kiosk-test-b.toml")))
    b.start()
    try:
        wait_until(lambda: ready(a) and ready(b), what="both kiosks ready")
        a.handle_card(CARD)
        wait_until(lambda: sees_inside(b, CARD), what="kiosk B learns the check-in")
    finally:
        b.stop()
    site.broker.stop()
    b = kiosk_factory("kiosk-test-b")  # restarted offline: only its copy on disk knows of the check-in
    assert not b.link.connected
    tap = b.handle_card(CARD)
    assert (tap.decision.feedback, tap.decision.event_type) == ("goodbye", "checkout")
    assert b.handle_card(CARD).decision.feedback == "welcome"  # its own taps since are laid over the copy
