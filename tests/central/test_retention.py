"""Time limits per data class at central (issue #16): the service's ticker removes what is past its class's
limit, keeps the rest, and counts each class in ``/api/v1/stats`` and ``/metrics``."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from central.alerts import AlertFilter
from central.api import create_app
from central.audit import AuditEntry
from central.settings import RetentionSettings
from tests.central.factories import GZIP, alert, batch, event, gz, records_body
from tests.helpers import served

NOW = datetime.now(UTC)
OLD, RECENT = NOW - timedelta(days=100), NOW - timedelta(days=10)


def screening(seq: int, at: datetime):
    return event("hs-north-1", seq, "screening", {"subject": "922E5832", "session": str(uuid.uuid4()),
                                                  "complete": True, "measurements": []}, at)


def checkin(seq: int, at: datetime):
    return event("kiosk-n-1", seq, "checkin", {"space": "study-24h-2f", "card": "922E5832", "via": "tap"}, at)


def test_the_ticker_removes_each_class_past_its_limit_and_counts_it(settings, store, tokens):
    limits = RetentionSettings(screenings_days=30, presence_days=200, telemetry_days=30, alerts_days=30,
                               audit_days=60, interval_s=0.2)
    old_read = AuditEntry("someone", "clinic", "GET", "/api/v1/screenings", "k0.x", {}, 1)
    store.audit.record(old_read, now=OLD)
    store.audit.record(old_read, now=RECENT)
    with served(create_app(settings.model_copy(update={"retention": limits}), store)) as client:
        client.headers.update(tokens.header("gateway:north-b3"))
        envelopes = [screening(1, OLD), screening(2, RECENT), checkin(1, OLD)]
        # The gateway received them when they happened: these device times are plausible, not replaced.
        for envelope in envelopes:
            sent = client.post("/api/v1/ingest", content=gz(batch("north-b3", [envelope])), headers=GZIP)
            assert sent.json()["new"] == 1
        alerts = [alert(status="resolved", raised_at=OLD, updated=OLD, resolved_at=OLD, resolved_by="x"),
                  alert(status="open", raised_at=OLD, updated=OLD)]
        assert client.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", alerts)).status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # rounds run every 0.2 s, some perhaps before the batches came
            stats = client.get("/api/v1/stats").json()
            if stats["expired_screenings"] and stats["expired_alerts"] and stats["expired_audit"]:
                break
            time.sleep(0.1)
        stats = client.get("/api/v1/stats").json()
        metrics = client.get("/metrics").text
    assert {k: v for k, v in stats.items() if k.startswith("expired_")} == {
        "expired_screenings": 1, "expired_presence": 0, "expired_telemetry": 0, "expired_alerts": 1,
        "expired_conflicts": 0, "expired_audit": 1}
    assert 'onestop_central_expired_total{class="screenings"} 1.0' in metrics
    left = {e.data["session"] for e in store.screenings()}
    assert left == {envelopes[1].data.session}  # the recent screening stays
    assert len(store.check_events_since(OLD - timedelta(days=1), NOW)) == 1  # presence keeps 200 days
    assert [a["status"] for a in store.alerts.list(AlertFilter(teams=("facilities",)))] == ["open"]
    assert store.audit.count() == 1
