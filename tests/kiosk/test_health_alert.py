"""PHQ-9 item 9 does not wait for the student: the answer reaches the gateway, and raises the counselling
alert, before "See results" (real Mosquitto, gateway, central; a headless health station)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.localsite import KioskPlan, LocalSite
from harness.netutil import free_port
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from tests.conftest import KIOSKS
from tests.helpers import gateway_alerts, gateway_events, wait_until

pytestmark = pytest.mark.slow
STATION = "health-test-1"
CARD = "62E3086CED"


@pytest.fixture
def site(tmp_path: Path) -> LocalSite:
    """The usual test site plus one health station (privacy time-out long enough not to interfere)."""
    plan = LocalSite(tmp_path / "site", "test-site", broker_port=free_port(), gateway_port=free_port(),
                     central_port=free_port(),
                     kiosks=[*KIOSKS, KioskPlan(STATION, "skills-lab-1", mode="health-station")])
    plan.write()
    return plan


def screenings_at_gateway(site: LocalSite) -> list[dict]:
    rows = gateway_events(site, "SELECT id, payload FROM events WHERE device = ? AND type = 'screening' "
                                "ORDER BY seq", STATION)
    return [event["data"] for (event,) in rows]


def item9_alerts(site: LocalSite) -> list[str]:
    return [a["id"] for a in gateway_alerts(site) if a["rule"] == "phq9-item9"]


def test_phq9_item9_reaches_the_gateway_before_the_student_asks_for_results(site, gateway):
    runtime = KioskRuntime(load_kiosk(site.path(f"kiosk-{STATION}.toml")))
    runtime.start()
    try:
        wait_until(lambda: runtime.link.connected, what="health station connected")
        runtime.handle_card(CARD)
        runtime.accept_consent()
        runtime.begin("PHQ-9")
        for _ in range(8):
            runtime.answer(1)
        interim = runtime.answer(3)  # item 9: thoughts of self-harm, nearly every day
        assert interim is not None and runtime.session.phase == "measuring"  # no "See results" yet
        stored = wait_until(lambda: screenings_at_gateway(site), what="the interim screening at the gateway")
        assert stored[0]["complete"] is False and stored[0]["questionnaires"][0]["answers"][8] == 3
        assert stored[0]["consent"]["version"] == "health-consent-1"  # the gateway keeps the consent
        wait_until(lambda: item9_alerts(site), what="the counselling alert")

        final = runtime.finish()
        assert final is not None
        wait_until(lambda: len(screenings_at_gateway(site)) == 2, what="the complete screening at the gateway")
    finally:
        runtime.stop()
    first, second = screenings_at_gateway(site)
    assert first["session"] == second["session"] and second["complete"] is True
    assert len(item9_alerts(site)) == 1  # one alert for counselling, not one per record
