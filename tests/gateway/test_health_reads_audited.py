"""A gateway read that shows the clinic or counselling a student's card is audited: who, which route, which
alerts, never the card (issue #16)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from gateway import alerts as rules
from gateway.alert_store import GatewayAlerts
from gateway.api import create_app
from gateway.store import Store
from tests.gateway.test_read_model import StoreOnly, token
from tests.helpers import served

CARD = "922E5832"


def test_a_health_roles_read_naming_a_student_is_audited_without_the_card(tmp_path, caplog):
    store = Store(tmp_path / "g.db")
    base = rules.device_offline_alert("test-site", "hs-1", 12, datetime.now(UTC))
    screened = base.model_copy(update={"team": "clinic", "rule": "spo2-low", "subject": CARD})
    offline = rules.device_offline_alert("test-site", "kiosk-1", 12, datetime.now(UTC))
    GatewayAlerts(store).insert([screened, offline])
    clinic, clinic_auth = token("dr-li", "clinic")
    tech, tech_auth = token("tech", "technician")
    app = create_app(StoreOnly(store), [clinic, tech])
    with caplog.at_level(logging.INFO, logger="gateway.audit"), served(app) as client:
        assert [a["subject"] for a in client.get("/api/v1/alerts", headers=clinic_auth).json()] == [CARD]
        for _ in range(3):  # the dashboard polls: an unchanged list is one line per window
            assert client.get("/api/v1/overview", headers=clinic_auth).status_code == 200
        client.post(f"/api/v1/alerts/{screened.id}/acknowledge", headers=clinic_auth)
        client.get("/api/v1/alerts", headers=tech_auth)  # no student shown: nothing to audit
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.audit"]
    assert len(lines) == 3
    assert all(line.startswith("dr-li (clinic) read /api/v1/") and screened.id in line for line in lines)
    assert "/api/v1/alerts/{id}/acknowledge" in lines[2]
    assert not any(CARD in r.getMessage() for r in caplog.records)
