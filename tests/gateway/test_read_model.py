"""The local API needs nothing of a gateway but its read model: served here over a real store alone."""

import hashlib
import time
from datetime import UTC, datetime

from gateway import alerts as rules
from gateway.alert_store import GatewayAlerts
from gateway.api import create_app
from gateway.ingest import Rejected
from gateway.read_model import SpaceNow, SyncStatus
from gateway.store import Store
from onestop.roles import TokenEntry
from tests.helpers import served


class StoreOnly:
    """A ``ReadModel`` with a store and no building, receiver or syncer."""

    site = "test-site"

    def __init__(self, store: Store) -> None:
        self.store, self.alert_store = store, GatewayAlerts(store)

    def broker_connected(self): return False
    def receiver_restarts(self): return 0
    def tick_failures(self): return 0
    def central_state(self): return "not-configured"
    def spaces(self): return [SpaceNow(id="lab", name="Lab", count=0, capacity=10, open=True)]
    def devices(self): return []
    def sync_status(self):
        return SyncStatus(central="not-configured", last_success=None, backlog=0, synced=0, alerts_unsynced=0,
                          dead_letters=0, dropped={})
    def stats(self): return self.store.stats()
    def counters(self): return self.store.counters()
    def dead_letters(self, limit): return self.store.dead_letters(limit)
    def quarantined(self, limit): return self.store.quarantined(limit)
    def alerts(self, teams, status, limit): return self.alert_store.list(teams, status, limit)
    def alert(self, alert_id): return self.alert_store.get(alert_id)
    def open_alerts_by_severity(self): return self.alert_store.counts()
    def urgent_by_team(self): return self.alert_store.urgent_by_team()
    def save_alert(self, record): return self.alert_store.save(record)
    def alert_lifecycles(self, since): return self.alert_store.lifecycle(since)


def token(name: str, role: str) -> tuple[TokenEntry, dict[str, str]]:
    secret = f"{name}-secret"
    entry = TokenEntry(name=name, role=role, sha256=hashlib.sha256(secret.encode()).hexdigest())
    return entry, {"Authorization": f"Bearer {secret}"}


def test_the_api_answers_from_a_read_model_alone(tmp_path):
    store = Store(tmp_path / "g.db")
    store.write_batch([], [Rejected("onestop/v1/test-site/dev/x/evt/checkin", b"{", "invalid-json", "", time.time())])
    raised = rules.device_offline_alert("test-site", "kiosk-1", 12, datetime.now(UTC))
    GatewayAlerts(store).insert([raised])
    tech, tech_auth = token("tech", "technician")
    app = create_app(StoreOnly(store), [tech])
    with served(app) as client:
        assert client.get("/healthz").json()["broker"] is False
        assert [q["reason"] for q in client.get("/api/v1/quarantine", headers=tech_auth).json()] == ["invalid-json"]
        done = client.post(f"/api/v1/alerts/{raised.id}/acknowledge", headers=tech_auth)
        assert done.status_code == 200 and done.json()["acknowledged_by"] == "tech"
        assert 'onestop_gateway_open_alerts{severity="notice"} 1.0' in client.get("/metrics").text
    assert GatewayAlerts(store).get(raised.id).status == "acknowledged"
    store.close()
