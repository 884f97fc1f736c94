"""Ingest: idempotent, all-or-nothing, site-bound, concurrent, counted."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone

import httpx
import sqlalchemy as sa

from central.api import create_app
from harness.netutil import free_port
from tests.central.factories import GZIP, T0, batch, checks, event, gz
from web.http import HttpServer, HttpSettings


def test_same_batch_twice_stores_each_event_once(as_role, store):
    body = gz(batch("north-b3", checks("kiosk-n-1", "study-24h-2f", 50)))
    first = as_role("gateway:north-b3").post("/api/v1/ingest", content=body, headers=GZIP)
    second = as_role("gateway:north-b3").post("/api/v1/ingest", content=body, headers=GZIP)
    assert first.status_code == 200 and first.json() == {"new": 50, "duplicates": 0, "conflicts": 0, "erased": 0}
    assert second.json() == {"new": 0, "duplicates": 50, "conflicts": 0, "erased": 0}
    stats = as_role("gateway").get("/api/v1/stats").json()
    assert stats["events"] == 50 and stats["duplicates"] == 50 and stats["gateways"] == 1


def test_uncompressed_json_is_accepted_too(as_role):
    body = json.dumps(batch("north-b3", checks("kiosk-n-1", "study-24h-2f", 3))).encode()
    answer = as_role("gateway:north-b3").post("/api/v1/ingest", content=body)
    assert answer.json() == {"new": 3, "duplicates": 0, "conflicts": 0, "erased": 0}


def test_one_invalid_event_rejects_the_whole_batch_with_locations_only(as_role, store):
    good = checks("kiosk-n-1", "study-24h-2f", 5)
    body = batch("north-b3", good)
    body["events"][3]["envelope"]["data"]["card"] = "not a card 1234"
    for _ in range(2):  # deterministic: the same answer every time
        answer = as_role("gateway:north-b3").post("/api/v1/ingest", content=gz(body), headers=GZIP)
        assert answer.status_code == 422
        assert answer.json()["invalid_events"] == [3]
        assert answer.json()["detail"] == [{"loc": ["events", 3, "envelope", "data", "card"],
                                            "type": "string_pattern_mismatch"}]  # as docs/central.md shows
        assert "not a card" not in answer.text  # no values echoed: they may be personal data
    assert store.stats()["events"] == 0
    assert store.stats()["quarantined"] == 2
    assert store.gateways()[0]["quarantined"] == 2


def test_questionnaire_errors_do_not_leak_answers(as_role):
    data = {"subject": "922E5832", "session": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "complete": True,
            "questionnaires": [{"instrument": "GAD-7", "answers": [3, 3, 3, 3, 3, 3, 2], "score": 19}]}
    env = event("health-n-1", 1, "screening", {**data, "questionnaires": []})
    body = batch("north-b3", [env])
    body["events"][0]["envelope"]["data"] = data
    answer = as_role("gateway:north-b3").post("/api/v1/ingest", content=gz(body), headers=GZIP)
    assert answer.status_code == 422
    assert "19" not in json.dumps(answer.json()["detail"]) and "922E5832" not in answer.text


def test_malformed_bodies_are_refused(as_role):
    gateway = as_role("gateway:north-b3")
    assert gateway.post("/api/v1/ingest", content=b"\x1f\x8bnope", headers=GZIP).status_code == 400
    assert gateway.post("/api/v1/ingest", content=b"{}", headers={"Content-Encoding": "br"}).status_code == 415
    assert gateway.post("/api/v1/ingest", content=b"[1,2", headers=GZIP | {"Content-Encoding": ""}).status_code == 422


def test_a_bound_gateway_token_may_not_ingest_for_another_site(as_role, store):
    body = gz(batch("south-a1", checks("kiosk-s-1", "hall", 2)))
    assert as_role("gateway:north-b3").post("/api/v1/ingest", content=body, headers=GZIP).status_code == 403
    assert as_role("gateway:south-a1").post("/api/v1/ingest", content=body, headers=GZIP).status_code == 200
    assert as_role("gateway").post("/api/v1/ingest", content=body, headers=GZIP).json()["duplicates"] == 2


def test_gateway_lag_and_last_seen_are_tracked(as_role, store):
    envs = checks("kiosk-n-1", "study-24h-2f", 3)
    as_role("gateway:north-b3").post("/api/v1/ingest", content=gz(batch("north-b3", envs)), headers=GZIP)
    gateways = as_role("technician").get("/api/v1/gateways").json()
    assert [g["site"] for g in gateways] == ["north-b3"]
    assert gateways[0]["lag_s"] > 0 and gateways[0]["max_lag_s"] >= gateways[0]["lag_s"]
    assert gateways[0]["events"] == 3


def test_implausible_device_time_falls_back_to_receive_time(store):
    from central.ingest import IngestItem

    wrong_clock = event("kiosk-n-1", 1, "checkin", {"space": "s", "card": "ABCD"}, ts=T0.replace(year=2020))
    store.ingest("north-b3", [IngestItem(received=T0, envelope=wrong_clock)])
    (stored,) = store.space_events("north-b3", "s", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert stored.at == T0


def test_stored_events_read_back_as_written_and_filter_by_time_to_the_microsecond(store):
    # Ingest writes rows on the driver directly; SQLAlchemy reads them back and binds the query times.
    from central.ingest import IngestItem
    from central.schema import events
    from central.store import IngestResult

    check = event("kiosk-n-1", 1, "checkin", {"space": "hall", "card": "ABCD"},
                  ts=T0.astimezone(timezone(timedelta(hours=2))))  # device clock with an offset
    reading = event("sensor-n-1", 1, "reading", {"sensor": "door", "code": "people_count", "value": 3,
                                                 "unit": "{people}", "space": "hall"}, T0 + timedelta(milliseconds=1))
    screening = event("hs-n-1", 1, "screening", {
        "subject": "922E5832", "session": str(uuid.uuid4()), "complete": True,
        "measurements": [{"code": "8480-6", "value": 121, "unit": "mm[Hg]"}]})
    heartbeat = event("kiosk-n-1", 2, "heartbeat", {"uptime_s": 1, "outbox": 0, "cpu_temp": 40.5})
    received = datetime(2026, 3, 2, 9, 0, 1)  # no offset: UTC
    items = [IngestItem(received=received, envelope=env) for env in (check, reading, screening, heartbeat)]
    now = T0 + timedelta(minutes=5)

    assert store.ingest("north-b3", items, now=now) == IngestResult(new=4, duplicates=0)
    assert store.ingest("north-b3", [items[0], items[0]], now=now) == IngestResult(new=0, duplicates=2)
    hall = store.space_events("north-b3", "hall", T0, T0 + timedelta(seconds=1))
    assert [(e.type, e.at, e.data) for e in hall] == [("checkin", T0, check.data.model_dump(mode="json")),
                                                      ("reading", reading.ts, reading.data.model_dump(mode="json"))]
    later = store.space_events("north-b3", "hall", T0 + timedelta(microseconds=1), T0 + timedelta(seconds=1))
    assert [e.type for e in later] == ["reading"]
    (screened,) = store.screenings(subject="922E5832")
    assert screened.data == screening.data.model_dump(mode="json") and screened.space is None
    with store.db.read() as conn:
        rows = conn.execute(sa.select(events.c.type, events.c.ts, events.c.received, events.c.ingested,
                                      events.c.data).order_by(events.c.type)).all()
    assert [tuple(r) for r in rows] == [
        (env.type, env.ts, received.replace(tzinfo=UTC), now, env.data.model_dump(mode="json"))
        for env in sorted((check, reading, screening, heartbeat), key=lambda e: e.type)]
    assert rows[1].data["cpu_temp"] == 40.5  # a heartbeat's extra fields are kept


def test_ten_gateways_ingesting_at_once_lose_and_double_nothing(settings, store, tokens):
    port = free_port()
    server = HttpServer(create_app(settings, store), HttpSettings(port=port))
    server.start()
    sites = [f"site-{i}" for i in range(10)]
    sent: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def gateway(site: str) -> None:
        envs = checks(f"kiosk-{site}", "hall", 200)
        sent[site] = [e.id for e in envs]
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                              headers=tokens.header("gateway") | GZIP) as http:
                for chunk in range(0, 200, 40):
                    body = gz(batch(site, envs[chunk:chunk + 40]))
                    assert http.post("/api/v1/ingest", content=body).status_code == 200
                    assert http.post("/api/v1/ingest", content=body).json()["new"] == 0  # a resend
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=gateway, args=(site,)) for site in sites]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        server.stop()
    assert not errors, errors
    assert store.event_ids() == {i for ids in sent.values() for i in ids}
    assert store.stats()["duplicates"] == 2000
    assert {g["site"]: g["events"] for g in store.gateways()} == dict.fromkeys(sites, 200)
