"""Time limits per data class at the gateway (issue #16): confirmed screenings go after a few days, other
confirmed events, quarantine and resolved alerts after theirs; nothing waiting for central ever goes by age;
every removal is counted, in ``/api/v1/stats`` and ``/metrics``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from gateway import alerts as rules
from gateway import retention
from gateway.alert_store import GatewayAlerts
from gateway.api import create_app
from gateway.ingest import Accepted, Rejected
from gateway.settings import StorageSettings
from gateway.store import Store
from onestop.events import new_event
from tests.gateway.test_read_model import StoreOnly
from tests.helpers import served

DAY = 86_400.0
SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"
DATA = {"checkin": {"space": "s1", "card": "AB12"},
        "screening": {"subject": "AB12", "session": SESSION, "complete": True}}


def stored(store: Store, kind: str, n: int, age_days: float, now: float) -> list[str]:
    items = []
    for _ in range(n):
        env = new_event(f"dev-{kind}", int(time.monotonic_ns() % 10**12), kind, DATA[kind])
        items.append(Accepted(env, env.to_json(), now - age_days * DAY))
    store.write_batch(items, [])
    return [item.envelope.id for item in items]


def remaining(store: Store, sql: str) -> int:
    with store.reader() as conn:
        return conn.execute(sql).fetchone()[0]


def test_each_class_goes_after_its_time_and_nothing_waiting_for_central_goes(tmp_path):
    now = time.time()
    store = Store(tmp_path / "g.db")
    store.mark_synced(stored(store, "screening", 5, age_days=4, now=now))  # confirmed, past 3 days: go
    store.mark_synced(stored(store, "screening", 2, age_days=1, now=now))  # confirmed, recent: stay
    stored(store, "screening", 3, age_days=30, now=now)  # never confirmed: stay, however old
    store.mark_synced(stored(store, "checkin", 4, age_days=20, now=now))  # confirmed, past 14 days: go
    store.mark_synced(stored(store, "checkin", 6, age_days=5, now=now))  # confirmed, within 14 days: stay
    stored(store, "checkin", 1, age_days=40, now=now)  # never confirmed: stay
    store.write_batch([], [Rejected("onestop/v1/s/dev/x/evt/checkin", b"{", "invalid-json", "", now - 8 * DAY),
                           Rejected("onestop/v1/s/dev/x/evt/checkin", b"{", "invalid-json", "", now - DAY)])
    alerts = GatewayAlerts(store)
    old = datetime.fromtimestamp(now, UTC) - timedelta(days=31)
    done, open_ = (rules.device_offline_alert("s", device, 12, old) for device in ("kiosk-1", "kiosk-2"))
    unconfirmed = rules.device_offline_alert("s", "kiosk-3", 12, old)
    alerts.insert([done, open_, unconfirmed])
    done, unconfirmed = (rules.resolve(a, "tech", old + timedelta(hours=1)) for a in (done, unconfirmed))
    alerts.save(done)
    alerts.save(unconfirmed)
    alerts.mark_synced([done, open_])  # central has the resolution of the first and the open second

    expired = retention.expire(store, StorageSettings(), now=now)

    assert expired == {"screenings": 5, "events": 4, "quarantine": 1, "resolved-alerts": 1}
    assert remaining(store, "SELECT count(*) FROM events WHERE type = 'screening'") == 5
    assert remaining(store, "SELECT count(*) FROM events WHERE synced = 0") == 4  # every unconfirmed row
    assert remaining(store, "SELECT count(*) FROM events WHERE type = 'checkin'") == 7
    assert remaining(store, "SELECT count(*) FROM quarantine") == 1
    assert sorted(a.id for a in alerts.list(("technicians",), None, 10)) == sorted([open_.id, unconfirmed.id])
    stats = store.stats()
    assert stats["expired"] == expired and stats["events"] == 12  # the stored-rows counter follows
    assert retention.expire(store, StorageSettings(), now=now) == {}  # nothing left to expire: nothing counted

    with served(create_app(StoreOnly(store), [])) as client:
        assert client.get("/api/v1/stats").json()["expired"] == expired
        metrics = client.get("/metrics").text
    assert 'onestop_gateway_expired_total{class="screenings"} 5.0' in metrics


def test_shorter_limits_from_settings_apply(tmp_path):
    now = time.time()
    store = Store(tmp_path / "g.db")
    store.mark_synced(stored(store, "screening", 3, age_days=1.5, now=now))
    assert retention.expire(store, StorageSettings(), now=now) == {}
    assert retention.expire(store, StorageSettings(screenings_days=1), now=now) == {"screenings": 3}
