"""Central tells campus-wide targets of alerts that arrive by sync and escalates urgent alerts nobody
acknowledges: real HTTP sync, a real webhook receiver, the notifier on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from central.alerts import AlertStore
from central.db import Database
from central.migrations import MIGRATIONS, SETTLED_TIER, migrate
from central.notifications import NotificationStore
from central.notifier import Notifier
from tests.central.factories import alert, records_body
from tests.helpers import wait_until
from tests.receivers import smtp_server, webhook

CARD = "922E5832"
AFTER_MIN = 0.05  # 3 s per escalation tier


@pytest.fixture
def hooks() -> Iterator[tuple]:
    with webhook() as campus, webhook() as duty, webhook() as head, smtp_server() as mail:
        yield campus, duty, head, mail


@pytest.fixture
def notifier(settings, store, hooks) -> Iterator[Notifier]:
    campus, duty, head, mail = hooks
    configured = type(settings).model_validate({
        **settings.model_dump(),
        "notify": [{"team": "counselling", "url": campus.url, "name": "counselling-campus"},
                   {"team": "counselling", "url": mail.url("counselling@campus.example"), "name": "counselling-mail"},
                   {"team": "counselling", "url": duty.url, "tier": 1, "name": "counselling-duty"},
                   {"team": "counselling", "url": head.url, "tier": 2, "name": "counselling-head"}],
        "notifications": {"escalate_after_min": {"counselling": AFTER_MIN}, "public_url": "https://central.example.edu"},
    })
    running = Notifier(configured, NotificationStore(store.db), store.configs)
    running.start()
    yield running
    running.stop()


def _titles(hook) -> list[str]:
    return [body["title"] + "\n" + body["message"] for body in hook.bodies]


def test_an_unacknowledged_urgent_alert_escalates_tier_by_tier_and_an_acknowledged_one_does_not(
        client, tokens, hooks, notifier, store):
    campus, duty, head, mail = hooks
    now = datetime.now(UTC)
    ignored = alert(team="counselling", rule="phq9-item9", severity="urgent", summary="PHQ-9 item 9 above zero",
                    device="hs-north-1", subject=CARD, raised_at=now, updated=now)
    seen = alert(team="counselling", rule="phq9-item9", severity="urgent", summary="PHQ-9 item 9 above zero",
                 device="hs-north-2", subject="AB12CD34", raised_at=now, updated=now)
    gateway = tokens.header("gateway:north-b3")
    assert client.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", [ignored, seen]),
                       headers=gateway).status_code == 200
    # Someone acknowledges one at the building at once; the gateway syncs the change up.
    acked = seen.model_copy(update={"status": "acknowledged", "acknowledged_by": "li.counsellor",
                                    "acknowledged_at": now + timedelta(seconds=1),
                                    "updated_at": now + timedelta(seconds=1)})
    assert client.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", [acked]),
                       headers=gateway).status_code == 200
    wait_until(lambda: len(campus.bodies) == 2 and len(mail.inbox) == 2, timeout=5,
               what="both alerts at the campus-wide webhook and mail box")

    wait_until(lambda: duty.bodies, timeout=AFTER_MIN * 60 + 4, what="tier 1 told of the unacknowledged alert")
    wait_until(lambda: head.bodies, timeout=AFTER_MIN * 60 + 4, what="tier 2 told after another delay")
    for hook in (duty, head):
        assert len(hook.bodies) == 1 and ignored.id in _titles(hook)[0] and seen.id not in _titles(hook)[0]
    assert "escalation tier 1" in duty.bodies[0]["title"] and "escalation tier 2" in head.bodies[0]["title"]
    for text in _titles(campus) + _titles(duty) + _titles(head):
        assert "https://central.example.edu/#alert=" in text and "Europe/London" in text and "UTC" in text
    for text in _titles(campus) + _titles(duty) + _titles(head) + [m.content.decode() for m in mail.inbox]:
        assert CARD not in text and "AB12CD34" not in text
    # A try is recorded once its target has answered, a moment after the body arrived.
    wait_until(lambda: len(NotificationStore(store.db).attempts(ignored.id)) == 4, timeout=5,
               what="the four tries recorded")
    tries = NotificationStore(store.db).attempts(ignored.id)
    assert sorted((t["tier"], t["target"], t["outcome"]) for t in tries) == [
        (0, "counselling-campus", "sent"), (0, "counselling-mail", "sent"), (1, "counselling-duty", "sent"),
        (2, "counselling-head", "sent")]
    assert [t["tier"] for t in NotificationStore(store.db).attempts(seen.id)] == [0, 0]
    counts = NotificationStore(store.db).counts()
    assert counts["sent"] == 6 and counts["escalations"] == 2
    assert 'onestop_central_notifications_total{outcome="escalations"} 2.0' in client.get("/metrics").text


def test_alerts_held_before_the_upgrade_are_not_notified(database_url):
    """Migration 6 settles every alert already stored: an upgrade must not page anyone about old alerts."""
    db = Database(database_url)
    migrate(db, tuple(m for m in MIGRATIONS if m.key < 6))
    AlertStore(db).upsert([alert(team="counselling", severity="urgent", rule="phq9-item9")])
    migrate(db)
    assert NotificationStore(db).unseen() == [] and NotificationStore(db).escalating(SETTLED_TIER) == []
    db.close()
