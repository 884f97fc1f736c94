"""Alerts and fleet sync (newer updated_at wins), the configuration downlink with ETag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.central.factories import GZIP, T0, alert, device, gz, records_body

LATER = T0 + timedelta(minutes=5)


def test_alert_upsert_keeps_the_newer_copy_whatever_the_arrival_order(as_role):
    gateway = as_role("gateway:north-b3")
    opened = alert(updated=T0)
    acked = opened.model_copy(update={"status": "acknowledged", "updated_at": LATER, "acknowledged_by": "sam",
                                      "acknowledged_at": LATER})
    assert gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", [acked])).json() == \
        {"applied": 1, "stale": 0}
    stale = gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", [opened])).json()
    assert stale == {"applied": 0, "stale": 1}
    listed = as_role("facilities").get("/api/v1/alerts").json()
    assert [(a["id"], a["status"], a["acknowledged_by"]) for a in listed] == [(opened.id, "acknowledged", "sam")]


def test_alert_sync_accepts_gzip_and_dedupes_within_a_batch(as_role):
    first = alert(updated=T0)
    newer = first.model_copy(update={"status": "resolved", "updated_at": LATER})
    body = gz(records_body("alerts", "north-b3", [newer, first]))
    answer = as_role("gateway:north-b3").post("/api/v1/alerts/sync", content=body, headers=GZIP)
    assert answer.json() == {"applied": 1, "stale": 1}
    assert as_role("staff").get("/api/v1/alerts", params={"status": "resolved"}).json()[0]["id"] == first.id


def test_alerts_filter_by_team_status_site_and_summarise(as_role):
    records = {"north-b3": [alert(team="clinic", rule="bp-crisis", severity="urgent", subject="922E5832"),
                            alert(status="resolved")],
               "south-a1": [alert(site="south-a1", team="technicians", rule="device-offline")]}
    for site, alerts in records.items():
        assert as_role(f"gateway:{site}").post("/api/v1/alerts/sync",
                                               json=records_body("alerts", site, alerts)).status_code == 200
    admin = as_role("admin")
    assert [a["rule"] for a in admin.get("/api/v1/alerts", params={"team": "clinic"}).json()] == ["bp-crisis"]
    assert len(admin.get("/api/v1/alerts", params={"site": "north-b3", "status": "open"}).json()) == 1
    assert admin.get("/api/v1/alerts", params={"team": "clinic"}).json()[0]["subject"] is None  # withheld
    assert as_role("clinic").get("/api/v1/alerts", params={"team": "clinic"}).json()[0]["subject"] == "922E5832"
    summary = as_role("admin").get("/api/v1/alerts/summary").json()
    assert summary["clinic"]["open"] == 1 and summary["facilities"] == {"open": 0, "acknowledged": 0,
                                                                         "resolved": 1}
    assert as_role("admin").get("/api/v1/stats").json()["open_alerts"] == 2


def test_alert_sync_refuses_other_sites_alerts(as_role):
    body = records_body("alerts", "north-b3", [alert(site="south-a1")])
    assert as_role("gateway:north-b3").post("/api/v1/alerts/sync", json=body).status_code == 400
    body = records_body("alerts", "south-a1", [alert(site="south-a1")])
    assert as_role("gateway:north-b3").post("/api/v1/alerts/sync", json=body).status_code == 403


def test_fleet_upsert_newer_wins_and_summarises_per_site(as_role):
    gateway = as_role("gateway:north-b3")
    devices = [device("kiosk-n-1"), device("kiosk-n-2", online=False)]
    assert gateway.post("/api/v1/fleet/sync", json=records_body("devices", "north-b3", devices)).json() == \
        {"applied": 2, "stale": 0}
    back = [device("kiosk-n-2", online=True, updated=LATER, outbox=3), device("kiosk-n-1", online=False,
                                                                              updated=T0 - timedelta(minutes=1))]
    assert gateway.post("/api/v1/fleet/sync", json=records_body("devices", "north-b3", back)).json() == \
        {"applied": 1, "stale": 1}
    fleet = {d["device"]: d for d in as_role("technician").get("/api/v1/fleet").json()}
    assert fleet["kiosk-n-1"]["online"] is True and fleet["kiosk-n-2"]["outbox"] == 3
    assert as_role("technician").get("/api/v1/fleet/summary").json() == {"north-b3": {"online": 2, "offline": 0}}
    assert as_role("technician").get("/api/v1/fleet", params={"online": False}).json() == []


def test_a_fleet_record_dated_in_the_future_does_not_hide_the_real_updates(as_role):
    gateway = as_role("gateway:north-b3")
    future = datetime(2030, 1, 1, tzinfo=UTC)
    wrong = [device("kiosk-n-1", online=False, updated=future)]
    assert gateway.post("/api/v1/fleet/sync", json=records_body("devices", "north-b3", wrong)).json()["applied"] == 1
    real = [device("kiosk-n-1", online=True, updated=datetime.now(UTC), outbox=0)]
    assert gateway.post("/api/v1/fleet/sync", json=records_body("devices", "north-b3", real)).json() == \
        {"applied": 1, "stale": 0}
    shown = as_role("technician").get("/api/v1/fleet").json()[0]
    assert shown["online"] is True and datetime.fromisoformat(shown["last_seen"]) < future
    assert as_role("admin").get("/api/v1/stats").json()["future_dated"] == 1


def test_an_alert_dated_in_the_future_can_still_be_resolved(as_role):
    gateway = as_role("gateway:north-b3")
    wrong = alert(updated=datetime(2030, 1, 1, tzinfo=UTC))
    assert gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", [wrong])).status_code == 200
    resolved = wrong.model_copy(update={"status": "resolved", "updated_at": datetime.now(UTC)})
    assert gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", [resolved])).json() == \
        {"applied": 1, "stale": 0}
    assert as_role("admin").get("/api/v1/alerts").json()[0]["status"] == "resolved"


SITE_CONFIG = {"spaces": [{"id": "study-24h-2f", "name": "24h study", "capacity": 40},
                          {"id": "skills-lab-1", "capacity": 12,
                           "hours": {"open": "08:00", "close": "20:00", "days": ["mon", "tue", "wed"]}}],
               "devices": [{"device": "kiosk-n-1", "kind": "kiosk", "space": "study-24h-2f"}]}


def test_config_downlink_with_etag_and_304(as_role):
    path = "/api/v1/gateways/north-b3/config"
    assert as_role("gateway:north-b3").get(path).status_code == 404
    put = as_role("admin").put(path, json=SITE_CONFIG)
    assert put.status_code == 200 and put.headers["etag"].startswith('"')
    got = as_role("gateway:north-b3").get(path)
    assert got.status_code == 200 and got.headers["etag"] == put.headers["etag"]
    assert got.json()["spaces"][1]["hours"]["close"] == "20:00:00"
    unchanged = as_role("gateway:north-b3").get(path, headers={"If-None-Match": got.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    changed = {**SITE_CONFIG, "spaces": SITE_CONFIG["spaces"][:1]}
    assert as_role("admin").put(path, json=changed).headers["etag"] != got.headers["etag"]
    again = as_role("gateway:north-b3").get(path, headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 200 and len(again.json()["spaces"]) == 1


def test_config_is_only_for_the_gateways_own_site_and_validated(as_role):
    as_role("admin").put("/api/v1/gateways/north-b3/config", json=SITE_CONFIG)
    assert as_role("gateway:south-a1").get("/api/v1/gateways/north-b3/config").status_code == 403
    assert as_role("gateway").get("/api/v1/gateways/north-b3/config").status_code == 200  # unbound token
    bad = {**SITE_CONFIG, "devices": [{"device": "kiosk-n-1", "kind": "kiosk", "space": "nowhere"}]}
    answer = as_role("admin").put("/api/v1/gateways/north-b3/config", json=bad)
    assert answer.status_code == 422 and "nowhere" in answer.text  # the message names the bad reference


def test_config_put_with_a_stale_if_match_is_refused(as_role):
    path = "/api/v1/gateways/north-b3/config"
    first = as_role("admin").put(path, json=SITE_CONFIG).headers["etag"]
    assert as_role("admin").put(path, json=SITE_CONFIG, headers={"If-Match": first}).status_code == 200
    assert as_role("admin").put(path, json={"spaces": []}, headers={"If-Match": '"stale"'}).status_code == 412


def test_a_gateway_introduces_its_own_configuration_once_and_never_overwrites_central(as_role):
    path = "/api/v1/gateways/north-b3/config"
    assert as_role("gateway:north-b3").put(path, json=SITE_CONFIG).status_code == 428  # create-only, said so
    assert as_role("gateway:south-a1").put(path, json=SITE_CONFIG, headers={"If-None-Match": "*"}).status_code == 403
    first = as_role("gateway:north-b3").put(path, json=SITE_CONFIG, headers={"If-None-Match": "*"})
    assert first.status_code == 200
    assert as_role("admin").get(path).json()["spaces"][0]["name"] == "24h study"
    managed = {**SITE_CONFIG, "spaces": SITE_CONFIG["spaces"][:1]}
    as_role("admin").put(path, json=managed)
    again = as_role("gateway:north-b3").put(path, json=SITE_CONFIG, headers={"If-None-Match": "*"})
    assert again.status_code == 412 and len(as_role("admin").get(path).json()["spaces"]) == 1
