"""Bookings imported from a booking system at central (#18): real iCalendar files (a weekly series in
Asia/Shanghai with an EXDATE and a cancelled instance, a cancelled event, a changed SEQUENCE, an attendee
the directory does not know), the JSON form, and the bounds, against a real uvicorn central."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
V1 = DATA / "bookings-skills-lab.ics"
V2 = DATA / "bookings-skills-lab-updated.ics"
BASE_MONDAY = date(2026, 3, 2)  # the files' first week
ROUTE = "/api/v1/sites/north-b3/spaces/skills-lab/bookings"
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}
WEEKLY, EXAM, MOVED, VISITOR = ("weekly-amy-7f3a@booking.example.edu", "exam-prep-bo-22c1@booking.example.edu",
                                "moved-chen-91d0@booking.example.edu", "visitor-5e77@booking.example.edu")


def next_monday() -> date:
    today = datetime.now(UTC).date()
    return today - timedelta(days=today.weekday()) + timedelta(days=7)


def shifted(path: Path) -> bytes:
    """The file with its booking dates moved by whole weeks so its first week is next week (weekdays kept)."""
    delta = next_monday() - BASE_MONDAY
    text = path.read_text(encoding="utf-8")
    return re.sub(r"\b(2026\d{4})T", lambda m: (datetime.strptime(m.group(1), "%Y%m%d").date() + delta)
                  .strftime("%Y%m%d") + "T", text).encode()


def at(day: int, hour: int) -> str:
    """Day ``day`` of next week (0 = Monday) at ``hour`` UTC, as central answers it."""
    when = datetime.combine(next_monday() + timedelta(days=day), datetime.min.time(), UTC) + timedelta(hours=hour)
    return when.isoformat().replace("+00:00", "Z")


def listing(client, headers) -> list[dict]:
    monday = datetime.combine(next_monday(), datetime.min.time(), UTC)
    answer = client.get(ROUTE, params={"start": monday.isoformat(), "end": (monday + timedelta(days=42)).isoformat()},
                        headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def skills_lab(client, tokens):
    admin = tokens.header("admin")
    config = {"spaces": [{"id": "skills-lab", "capacity": 12}]}
    assert client.put("/api/v1/gateways/north-b3/config", json=config, headers=admin).status_code == 200
    holders = [{"id": "S2026001", "kind": "student", "email": "amy.chen@example.edu", "cards": ["04A1B2C3D4"],
                "status": "active"},
               {"id": "S2026002", "kind": "student", "email": "bo.li@example.edu", "cards": ["04B2C3D4E5"],
                "status": "active"}]
    assert client.post("/api/v1/directory/cardholders", json={"cardholders": holders},
                       headers=admin).status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_ical_import_expands_in_utc_and_follows_uid_and_sequence(client, tokens, skills_lab, store):
    facilities, staff = tokens.header("facilities"), tokens.header("staff")
    first = client.post(ROUTE, content=shifted(V1), headers={**facilities, **ICAL})
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["events"], answer["added"], answer["replaced"], answer["unchanged"]) == (4, 4, 0, 0)
    assert answer["occurrences"] == 8  # 6 weekly less the EXDATE, one each for the three others
    assert answer["unknown_holders"] == [{"uid": VISITOR, "email": "visitor@elsewhere.example.org"}]
    assert answer["rejected"] == answer["stale"] == answer["conflicts"] == []

    seen = listing(client, staff)
    weekly = [o for o in seen if o["uid"] == WEEKLY]
    # Tuesdays 09:00-11:00 in Shanghai are 01:00-03:00 UTC (central's own zone is Europe/London); week 3 is
    # the EXDATE, week 4 the cancelled instance (RECURRENCE-ID with STATUS:CANCELLED).
    assert [(o["start"], o["end"]) for o in weekly] == [(at(1 + 7 * w, 1), at(1 + 7 * w, 3)) for w in (0, 1, 3, 4, 5)]
    assert [o["status"] for o in weekly] == ["confirmed", "confirmed", "cancelled", "confirmed", "confirmed"]
    by_uid = {o["uid"]: o for o in seen if o["uid"] != WEEKLY}
    assert by_uid[EXAM]["status"] == "cancelled" and by_uid[VISITOR]["status"] == "tentative"
    assert by_uid[MOVED]["start"] == at(3, 14)
    amy = weekly[0]["holder"]
    assert amy and by_uid[MOVED]["holder"] == amy  # one holder, whatever the e-mail's case
    assert by_uid[EXAM]["holder"] not in (None, amy) and by_uid[VISITOR]["holder"] is None
    assert not {"S2026001", "S2026002", "amy.chen", "bo.li"} & set(re.findall(r"[\w.]+", str(seen).lower()))

    again = client.post(ROUTE, content=shifted(V1), headers={**facilities, **ICAL}).json()
    assert (again["added"], again["replaced"], again["unchanged"], again["occurrences"]) == (0, 0, 4, 0)
    assert listing(client, staff) == seen  # the same calendar again changes nothing

    # A later export: new DTSTAMPs everywhere, the moved booking at SEQUENCE 2, an old copy of the cancelled one.
    later = client.post(ROUTE, content=shifted(V2), headers={**facilities, **ICAL}).json()
    assert (later["added"], later["replaced"], later["unchanged"]) == (0, 1, 2)
    assert later["stale"] == [{"uid": EXAM, "sequence": 2, "stored_sequence": 3}]
    now = {o["uid"]: o for o in listing(client, staff) if o["uid"] != WEEKLY}
    assert (now[MOVED]["start"], now[MOVED]["end"]) == (at(3, 16), at(3, 17))
    assert now[EXAM]["status"] == "cancelled"  # the older SEQUENCE did not bring it back

    imports = [r for r in store.audit.list(principal="test-facilities") if r["method"] == "POST"]
    assert len(imports) == 3 and imports[0]["params"]["events"] == 4 and imports[0]["params"]["replaced"] == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_json_form_and_every_bound(client, tokens, skills_lab):
    facilities = tokens.header("facilities")
    start = datetime.combine(next_monday(), datetime.min.time(), UTC) + timedelta(hours=10)
    items = [{"uid": "json-1", "sequence": 0, "start": start.isoformat(),
              "end": (start + timedelta(hours=2)).isoformat(), "holder_email": "AMY.CHEN@example.edu",
              "rrule": "FREQ=DAILY;COUNT=3"},
             {"uid": "json-hourly", "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
              "rrule": "FREQ=HOURLY"},
             {"uid": "json-every-hour", "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
              "rrule": "FREQ=DAILY;BYHOUR=" + ",".join(str(h) for h in range(24))},
             {"uid": "json-long", "start": start.isoformat(), "end": (start + timedelta(days=2)).isoformat()},
             {"uid": "json-bad-rule", "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
              "rrule": "EVERY=TUESDAY"}]
    answer = client.post(ROUTE, json=items, headers=facilities)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["added"] == 1 and body["occurrences"] == 3 and body["unknown_holders"] == []
    reasons = {r["uid"]: r["reason"] for r in body["rejected"]}
    assert reasons["json-hourly"].startswith("RRULE FREQ must be one of DAILY")
    assert reasons["json-every-hour"].startswith("more than 400 occurrences")
    assert reasons["json-long"].startswith("an occurrence must end after it starts and last at most")
    assert reasons["json-bad-rule"] == "RRULE: not an RFC 5545 recurrence rule"
    listed = client.get(ROUTE, params={"start": start.isoformat()}, headers=facilities).json()
    assert [o["start"] for o in listed] == [at(d, 10) for d in range(3)]

    assert client.post(ROUTE, json=[{"uid": "x"}], headers=facilities).status_code == 422
    nul = shifted(V1).replace(b"SUMMARY:Visiting student", b"SUMMARY:Visiting\x00student")
    refused = client.post(ROUTE, content=nul, headers={**facilities, **ICAL}).json()["rejected"]
    assert refused == [{"uid": VISITOR, "reason": "the event holds control characters"}]
    assert client.post(ROUTE, content=b"hello", headers={**facilities, **ICAL}).status_code == 400
    assert client.post(ROUTE, content=b"a,b", headers={**facilities, "Content-Type": "text/csv"}).status_code == 415
    assert client.post(ROUTE, content=b"x" * (2 * 1024 * 1024 + 1), headers={**facilities, **ICAL}).status_code == 413
    assert client.post(ROUTE, json=items[:1], headers=tokens.header("staff")).status_code == 403
    assert client.post(ROUTE.replace("skills-lab", "nowhere"), json=items[:1], headers=facilities).status_code == 404
    too_long = client.get(ROUTE, params={"start": start.isoformat(), "end": (start + timedelta(days=94)).isoformat()},
                          headers=facilities)
    assert too_long.status_code == 400 and "at most 93 days" in too_long.text
