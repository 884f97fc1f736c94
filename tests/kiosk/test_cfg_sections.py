"""One section of a cfg message that does not validate never stops the rest of a kiosk's configuration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from kiosk.config import StationConfig, merge_sections
from onestop import topics
from onestop.payloads import MAX_RESERVATIONS
from tests.conftest import KIOSKS
from tests.helpers import raw_client, wait_until

BASE = StationConfig(space="study-24h-2f", capacity=40, display_name="Study room")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def bookings(n: int) -> list[dict]:
    return [{"id": f"b{i}", "space": "skills-lab-1", "card": f"{i:08X}",
             "start": (NOW + timedelta(minutes=i)).isoformat(), "end": (NOW + timedelta(minutes=i + 30)).isoformat()}
            for i in range(n)]


def test_an_oversized_booking_list_is_refused_alone_and_the_rest_applies():
    config, refused = merge_sections(BASE, {"space": "skills-lab-1", "display_name": "Skills lab",
                                            "reservations": bookings(MAX_RESERVATIONS + 1000), "capacity": -3})
    assert (config.space, config.name("en")) == ("skills-lab-1", "Skills lab")
    assert config.reservations == () and config.capacity == 40  # refused sections keep their local value
    assert {p.split(":")[0] for p in refused} == {"reservations", "capacity"}
    assert not [p for p in refused if "0000" in p]  # paths and messages, never a card number


def test_a_kiosk_applies_a_cfg_with_an_unreadable_booking_section_and_counts_it(site, broker, kiosk_factory):
    device = KIOSKS[0].device
    kiosk = kiosk_factory(device)
    gateway = raw_client(site.broker_port, site.gateway_user.username, site.gateway_user.password, "cfg-sender")
    try:
        # Within the broker's packet bound (more than 5,000 bookings cannot pass it), one booking ends before it
        # starts: the booking section is refused, the space and its name still apply.
        broken = bookings(100)
        broken[7]["end"] = broken[7]["start"]
        body = {"device": device, "space": "skills-lab-1", "display_name": "Skills lab, west door",
                "reservations": broken}
        gateway.publish(topics.cfg(site.site, device), json.dumps(body), qos=1, retain=True).wait_for_publish(10)
        wait_until(lambda: kiosk.config.space == "skills-lab-1", what="the rest of the cfg applied")
        assert kiosk.config.name("en") == "Skills lab, west door"
        assert kiosk.cfg_sections_refused == 1
    finally:
        gateway.loop_stop()
        gateway.disconnect()
