"""Keyed pseudonyms: central names students beyond the clinic by an HMAC under its own key, never by card,
and never by a hash anyone could recompute from the card alone (issue #16)."""

from __future__ import annotations

import hashlib
import stat
import uuid
from pathlib import Path

import httpx
import pytest

from central.errors import KeyFileError
from central.pseudonyms import Pseudonyms
from onestop.roles import HEALTH_ROLES, Role
from onestop.site import SiteConfig, SpaceConfig
from tests.central.factories import GZIP, T0, alert, batch, checks, event, gz, records_body

STUDENT = "922E5832"
SPACE = "study-24h-2f"


@pytest.fixture
def populated(as_role, store):
    """Check-ins of cards, a screening of STUDENT and a clinic alert about STUDENT, as gateways send them."""
    store.configs.put("north-b3", SiteConfig(spaces=[SpaceConfig(id=SPACE, name="24h study room", capacity=40)]),
                      "test")
    taps = checks("kiosk-n-1", SPACE, 3, T0) + [event("kiosk-n-1", 9, "checkin",
                                                       {"space": SPACE, "card": STUDENT, "via": "tap"}, T0)]
    seen = event("health-n-1", 1, "screening",
                 {"subject": STUDENT, "session": str(uuid.uuid4()), "complete": True,
                  "measurements": [{"code": "8867-4", "value": 71, "unit": "/min"}], "questionnaires": []}, T0)
    gateway = as_role("gateway:north-b3")
    assert gateway.post("/api/v1/ingest", content=gz(batch("north-b3", [*taps, seen])), headers=GZIP).status_code == 200
    bp = alert(team="clinic", rule="bp-crisis", severity="urgent", summary="Blood pressure crisis", subject=STUDENT)
    assert gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", [bp])).status_code == 200
    return [STUDENT] + [t.data.card for t in taps]


def audit_refs(as_role) -> list[str]:
    return [r["subject_ref"] for r in as_role("admin").get("/api/v1/audit").json() if r["subject_ref"]]


def test_the_audit_pseudonym_is_keyed_stable_and_not_a_plain_hash(as_role, populated, settings):
    for _ in range(2):
        assert as_role("clinic").get("/api/v1/screenings", params={"subject": STUDENT}).status_code == 200
    first, second = audit_refs(as_role)
    assert first == second  # the same card, the same pseudonym, call after call
    plain = {hashlib.sha256(STUDENT.encode()).hexdigest(),
             hashlib.sha256(b"onestop-audit-subject:" + STUDENT.encode()).hexdigest()}
    assert not any(first in h or h[:24] in first for h in plain)  # not recomputable from the card alone
    assert first == Pseudonyms.from_file(settings.pseudonym_key_file).of(STUDENT)
    assert first != Pseudonyms([b"another central's key, 32 bytes!"]).of(STUDENT)


def test_the_key_file_is_created_private_and_kept_out_of_the_database(as_role, populated, settings, database_url):
    path = settings.pseudonym_key_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    if database_url.startswith("sqlite:///"):
        key = path.read_text().strip()
        held = Path(database_url.removeprefix("sqlite:///")).read_bytes()
        assert key.encode() not in held and bytes.fromhex(key) not in held


def test_a_rotated_key_still_finds_the_audit_rows_written_before(as_role, populated, settings, store):
    from central.api import create_app
    from tests.helpers import served
    as_role("clinic").get("/api/v1/screenings", params={"subject": STUDENT})
    old = settings.pseudonym_key_file.read_text()
    settings.pseudonym_key_file.write_text("ab" * 32 + "\n" + old)
    with served(create_app(settings, store), headers=as_role("admin").headers) as rotated:
        rotated.headers["Authorization"] = as_role("clinic").headers["Authorization"]
        rotated.get("/api/v1/screenings", params={"subject": STUDENT})
        rotated.headers["Authorization"] = as_role("admin").headers["Authorization"]
        rows = rotated.get("/api/v1/audit", params={"subject": STUDENT}).json()
    assert len(rows) == 2 and rows[0]["subject_ref"] != rows[1]["subject_ref"]  # one per key, both found


def test_a_key_file_open_to_other_users_stops_central(tmp_path):
    path = tmp_path / "pseudonym.key"
    path.write_text("ab" * 32 + "\n")
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="open to other users"):
        Pseudonyms.from_file(path)


def test_roles_beyond_the_clinic_never_see_a_card_in_any_route(client, tokens, populated, settings):
    doc = client.get("/openapi.json").json()
    pseudonym = Pseudonyms.from_file(settings.pseudonym_key_file).of(STUDENT)
    non_health = [r for r in Role if r not in HEALTH_ROLES and r is not Role.GATEWAY]
    answered = 0
    for path, methods in doc["paths"].items():
        if "get" not in methods or "{site}/config" in path:
            continue
        url = path.format(site="north-b3", space=SPACE, resource_id="x", card=STUDENT, holder_id="S2026001")
        for role in non_health:
            client.headers["Authorization"] = f"Bearer {tokens[role.value]}"
            answer: httpx.Response = client.get(url, params={"since": "2026-03-02T00:00:00Z",
                                                             "from": "2026-03-02T00:00:00Z",
                                                             "to": "2026-03-03T00:00:00Z"})
            answered += answer.status_code == 200
            assert not any(card in answer.text for card in populated), (role, path)
    client.headers["Authorization"] = f"Bearer {tokens['staff']}"
    alerts = client.get("/api/v1/alerts").json()
    assert alerts == [] or all(a["subject"] is None for a in alerts)
    client.headers["Authorization"] = f"Bearer {tokens['admin']}"
    (bp,) = client.get("/api/v1/alerts", params={"team": "clinic"}).json()
    assert bp["subject"] is None and bp["subject_ref"] == pseudonym  # the same student, recognisably, unnamed
    assert answered > 10
