"""The sync planner's decisions: alone (pure), and through the shell against an httpx.MockTransport central.

The live tests against a real central are in test_sync.py; these pin each decision down with a central that
answers exactly what the case needs, on a real SQLite store.
"""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest

from gateway.alert_store import GatewayAlerts
from gateway.errors import CentralRefused, CentralUnreachable
from gateway.ingest import Accepted
from gateway.settings import CentralLinkSettings
from gateway.store import Store
from gateway.sync import Syncer
from gateway.sync_plan import Accept, Bisection, SetAside, Split, Verdict, judge, next_batch
from onestop.events import new_event

REFUSAL = b'{"detail": [{"loc": ["body", "events", 0, "envelope", "seq"], "type": "int_parsing"}]}'


def settle(records: list[int], bad: set[int]) -> tuple[list[list[int]], list[object]]:
    """Run a bisection against a central that refuses (422) every part holding a bad record."""
    plan, posted, steps = Bisection(records, "test"), [], []
    while (part := plan.next()) is not None:
        posted.append(part)
        steps.append(plan.answer(422 if bad & set(part) else 200, REFUSAL))
    return posted, steps


def test_bisection_finds_the_one_refused_record_and_accepts_every_other_in_order():
    posted, steps = settle(list(range(8)), {5})
    assert posted == [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7], [4, 5], [4], [5], [6, 7]]
    assert [s.records for s in steps if isinstance(s, Accept)] == [[0, 1, 2, 3], [4], [6, 7]]
    set_aside = [s for s in steps if isinstance(s, SetAside)]
    assert [s.record for s in set_aside] == [5]
    assert "int_parsing" in set_aside[0].reason and len(steps) - len(set_aside) - 3 == 3  # three splits
    assert all(isinstance(s, Split) for s in (steps[0], steps[2], steps[3]))


def test_an_answer_about_the_moment_or_the_whole_round_ends_the_bisection_with_its_typed_error():
    assert [judge(s) for s in (200, 400, 413, 422, 500, 503, 401, 403, 429, 404, 201)] == [
        Verdict.ACCEPTED, *[Verdict.CONTENT] * 3, *[Verdict.TRANSIENT] * 5, Verdict.REFUSED, Verdict.REFUSED]
    with pytest.raises(CentralUnreachable):
        Bisection([1, 2], "x").answer(503)
    with pytest.raises(CentralRefused):
        Bisection([1, 2], "x").answer(404)


def test_the_next_batch_skips_the_batch_in_flight_and_keeps_to_the_byte_bound():
    rows = [(str(i), float(i), b"x" * 1000) for i in range(10)]
    assert [r[0] for r in next_batch(rows, rows[:3], batch_max=4, max_bytes=10**6)] == ["3", "4", "5", "6"]
    assert [r[0] for r in next_batch(rows, [], batch_max=10, max_bytes=2500)] == ["0", "1"]
    assert len(next_batch(rows[:1], [], batch_max=10, max_bytes=10)) == 1  # always at least one


class Central:
    """What the mock central was sent, and how it answers."""

    def __init__(self, ingest_status: int = 200, poison: frozenset[str] = frozenset(),
                 bad_alert: str | None = None) -> None:
        self.ingest_status, self.poison, self.bad_alert = ingest_status, poison, bad_alert
        self.stored: list[str] = []
        self.alerts: list[str] = []
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/ingest":
            self.posts += 1
            ids = [e["envelope"]["id"] for e in json.loads(gzip.decompress(request.content))["events"]]
            if self.ingest_status != 200:
                return httpx.Response(self.ingest_status)
            if self.poison & set(ids):
                return httpx.Response(422, content=REFUSAL)
            self.stored += ids
            return httpx.Response(200, json={"accepted": len(ids)})
        if request.url.path == "/api/v1/alerts/sync":
            ids = [a["id"] for a in json.loads(gzip.decompress(request.content))["alerts"]]
            if self.bad_alert in ids:
                return httpx.Response(422, content=REFUSAL)
            self.alerts += ids
            return httpx.Response(200, json={"applied": len(ids), "stale": 0})
        return httpx.Response(404)  # no fleet or configuration routes: this central manages neither


def syncer(tmp_path, central: Central, batch_max: int = 5000) -> tuple[Syncer, Store, list[str]]:
    store = Store(tmp_path / "gateway.db")
    events = [new_event("kiosk-1", seq, "heartbeat", {"uptime_s": seq, "outbox": 0}) for seq in range(1, 41)]
    store.write_batch([Accepted(env, env.to_json(), time.time()) for env in events], [])
    link = CentralLinkSettings(url="http://central.test", token="t", batch_max=batch_max)
    sync = Syncer("test-site", link, store, GatewayAlerts(store), tmp_path / "site-config.json",
                  transport=httpx.MockTransport(central))
    return sync, store, [e.id for e in events]


def test_refused_events_are_set_aside_as_dead_letters_and_the_rest_is_synced_once(tmp_path):
    central = Central()
    sync, store, ids = syncer(tmp_path, central, batch_max=16)  # three batches, pipelined
    central.poison = frozenset({ids[3], ids[20]})
    try:
        while sync.sync_once():
            pass
    finally:
        sync.stop()
    assert sorted(central.stored) == sorted(set(ids) - central.poison)  # every good event, each once
    assert {row[0] for row in store.dead_letters()} == set(central.poison)
    assert store.stats()["backlog"] == 0 and store.stats()["dead_letters"] == 2
    store.close()


@pytest.mark.parametrize(("status", "error"), [(503, CentralUnreachable), (429, CentralUnreachable),
                                               (404, CentralRefused)])
def test_an_answer_about_the_round_sets_nothing_aside_and_keeps_every_event(tmp_path, status, error):
    central = Central(ingest_status=status)
    sync, store, ids = syncer(tmp_path, central)
    try:
        with pytest.raises(error):
            sync.sync_once()
    finally:
        sync.stop()
    assert central.posts == 1  # not split: the answer is about the moment or the route, not the events
    assert store.stats()["backlog"] == len(ids) and store.dead_letters() == []
    store.close()


def test_a_refused_alert_is_set_aside_and_the_others_are_marked_synced(tmp_path):
    from datetime import UTC, datetime

    from gateway import alerts as rules

    now = datetime.now(UTC)
    raised = [rules.device_offline_alert("test-site", f"kiosk-{n}", 12, now) for n in range(5)]
    central = Central(bad_alert=raised[2].id)
    sync, store, _ids = syncer(tmp_path, central)
    alerts = GatewayAlerts(store)
    alerts.insert(raised)
    try:
        sync.sync_once()
    finally:
        sync.stop()
    assert sorted(central.alerts) == sorted(a.id for a in raised if a.id != raised[2].id)
    assert alerts.unsynced(10) == [] and store.stats()["alerts_set_aside"] == 1
    store.close()
