"""An urgent screening at a running gateway reaches people: a webhook and an e-mail (over STARTTLS, trusted
through a throwaway CA) within seconds, with no card number or value; central is unreachable throughout; a
dead target is retried, recorded by name and given up on, while ingest goes on."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from gateway.settings import load
from harness.localsite import LocalSite, gateway_process
from harness.netutil import free_port
from onestop import topics
from onestop.errors import ConfigError
from onestop.events import new_event
from tests.helpers import query, raw_client, wait_until
from tests.receivers import smtp_server, throwaway_ca, webhook

CARD = "04D73A5C9F12"
STATION = "hs-test-notify"
VALUES = ("191", "126", "3")  # the systolic and diastolic pressure and PHQ-9's item 9 answer sent below
PUBLIC = "https://gateway.b3.example.edu"


@pytest.fixture
def notified(site: LocalSite, tmp_path) -> Iterator[tuple[LocalSite, object, object, int]]:
    """A lone gateway (central's address answers nothing) whose counselling team has a webhook and a mail
    box behind STARTTLS, and whose clinic has a webhook that always fails."""
    ca, server_tls = throwaway_ca(tmp_path / "ca")
    with webhook() as hook, webhook(status=500) as dead, smtp_server(server_tls) as mail:
        site.add_device(STATION, kind="health-station", space="skills-lab-1")
        site.gateway_extra = {
            "notify": [{"team": "counselling", "url": hook.url, "severity": "urgent", "name": "counselling-hook"},
                       {"team": "counselling", "url": mail.url("duty@counselling.example.edu", tls=True),
                        "name": "counselling-mail"},
                       {"team": "clinic", "url": dead.url, "name": "clinic-pager"}],
            "notifications": {"public_url": PUBLIC, "attempts": 3, "retry_base_s": 0.3, "retry_cap_s": 1.0},
            "central": {"url": f"http://127.0.0.1:{free_port()}", "token": site.tokens["gateway"]},
        }
        site.write()
        site.broker.start()
        gateway = gateway_process(site)
        gateway.env["SSL_CERT_FILE"] = str(ca)  # how a gateway trusts a campus CA (README, Notifications)
        gateway.start()
        try:
            yield site, hook, mail, dead
        finally:
            gateway.stop()
            site.broker.stop()


def _screening(seq: int) -> bytes:
    return new_event(STATION, seq, "screening", {
        "subject": CARD, "session": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "complete": True,
        "measurements": [{"code": "8480-6", "value": 191, "unit": "mm[Hg]"},
                         {"code": "8462-4", "value": 126, "unit": "mm[Hg]"}],
        "questionnaires": [{"instrument": "PHQ-9", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 3], "score": 3}]}).to_json()


def _no_personal_data(text: str) -> None:
    assert CARD not in text and CARD.lower() not in text
    for value in VALUES[:2]:
        assert not re.search(rf"\b{value}\b", text), f"a measured value ({value}) in a notification"
    assert "score" not in text.lower() and "answer" not in text.lower()


def test_an_urgent_screening_reaches_webhook_and_mail_at_once_without_card_or_values(notified):
    site, hook, mail, dead = notified
    station = site.device_users[STATION]
    device = raw_client(site.broker_port, station.username, station.password, STATION)
    try:
        device.publish(topics.event(site.site, STATION, "screening"), _screening(1), qos=1).wait_for_publish(10)
        wait_until(lambda: hook.bodies and mail.inbox, timeout=10, what="the webhook call and the e-mail")
        body = hook.bodies[0]
        assert "phq9-item9" in body["title"] and "URGENT" in body["title"]
        text = body["title"] + "\n" + body["message"]
        assert "skills-lab-1" in text and STATION in text and "UTC" in text and f"{PUBLIC}/#alert=" in text
        message = mail.inbox[0]
        assert message.tls, "the mail went out without STARTTLS"
        assert message.recipients == ["duty@counselling.example.edu"]
        for delivered in [raw.decode() for raw in hook.raw] + [m.content.decode() for m in mail.inbox]:
            _no_personal_data(delivered)

        # The clinic's pager is down: each try is recorded by the target's name, then the gateway gives up.
        database = site.root / "gateway" / "gateway.db"

        def clinic_tries():
            rows = query(database, "SELECT target, outcome, detail FROM notify_attempts WHERE target = 'clinic-pager'")
            return rows if len(rows) == 3 else None
        # Meanwhile ingest goes on: a heartbeat published now is stored before the retries are over.
        device.publish(topics.event(site.site, STATION, "heartbeat"),
                       new_event(STATION, 2, "heartbeat", {"uptime_s": 5, "outbox": 0}).to_json(),
                       qos=1).wait_for_publish(10)
        wait_until(lambda: query(database, "SELECT 1 FROM events WHERE device = ? AND seq = 2", STATION),
                   timeout=5, what="the heartbeat stored while the pager is retried")
        tries = wait_until(clinic_tries, timeout=15, what="three recorded tries to the dead pager")
        assert [outcome for _, outcome, _ in tries] == ["failed"] * 3
        assert all("500" in detail and dead.url not in detail for _, _, detail in tries)
        assert len(dead.bodies) == 3
        state = query(database, "SELECT state, attempts FROM notifications WHERE target = 'clinic-pager'")
        assert state == [("failed", 3)]
        metrics = httpx.get(f"{site.gateway_url}/metrics").text
        assert 'onestop_gateway_notifications_total{outcome="gave-up"} 1.0' in metrics
        assert 'onestop_gateway_notifications_total{outcome="sent"} 2.0' in metrics
        assert httpx.get(f"{site.gateway_url}/api/v1/stats").json()["central"] == "unreachable"
    finally:
        device.loop_stop()
        device.disconnect()


def test_a_gateway_refuses_escalation_tiers_above_its_work_orders_tier(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('site = "north-b3"\n[[notify]]\nteam = "clinic"\nurl = "json://127.0.0.1:9/"\ntier = 2\n')
    with pytest.raises(ConfigError, match="escalation is central's"):
        load(config)
    config.write_text(config.read_text().replace("tier = 2", "tier = 1"))  # overdue work orders (issue 19)
    assert load(config).notify[0].tier == 1


def test_tries_older_than_the_bound_are_forgotten_but_pending_deliveries_stay(tmp_path):
    from gateway.notify_queue import PENDING, SENT, Delivery, NotificationBook
    from gateway.retention import DAY_S, expire
    from gateway.settings import StorageSettings
    from gateway.store import Store

    store = Store(tmp_path / "gateway.db")
    try:
        book = NotificationBook(store)
        book.plan({"a-old": ["pager"], "a-new": ["pager"], "a-retrying": ["pager"]}, now=1000.0)
        book.record(Delivery("a-old", "pager", 0), "sent", "", 1000.0, SENT)
        book.record(Delivery("a-retrying", "pager", 0), "failed", "refused", 1000.0, PENDING, next_at=5000.0)
        book.record(Delivery("a-new", "pager", 0), "sent", "", 3000.0, SENT)
        expired = expire(store, StorageSettings(), now=2000.0 + StorageSettings().notification_tries_days * DAY_S)
        assert expired["notification-tries"] == 2
        assert [a.alert_id for a in book.attempts()] == ["a-new"]
        assert [d.alert_id for d in book.due(now=6000.0)] == ["a-retrying"]
    finally:
        store.close()
