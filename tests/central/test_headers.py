"""Central's security headers on a real HTTP server: the dashboard cannot be framed, and nothing a token
was needed for (screenings, FHIR, alerts, the site configuration) may be kept by a browser or a proxy."""

from __future__ import annotations

import httpx
import pytest

from central.api import create_app
from harness.netutil import free_port
from tests.central.factories import GZIP, batch, gz
from tests.central.test_health import STUDENT, screening
from web.http import HttpServer, HttpSettings

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # headers do not vary by database


@pytest.fixture
def central(settings, store):
    port = free_port()
    server = HttpServer(create_app(settings, store), HttpSettings(port=port))
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_central_dashboard_cannot_be_framed_and_runs_only_its_own_script(central):
    page = httpx.get(f"{central}/dashboard")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'sha256-" in policy


def test_central_personal_data_is_never_stored_by_a_browser_or_proxy(central, tokens):
    sent = httpx.post(f"{central}/api/v1/ingest", headers={**tokens.header("gateway:north-b3"), **GZIP},
                      content=gz(batch("north-b3", [screening(1, STUDENT, [{"code": "59408-5", "value": 97,
                                                                             "unit": "%"}])])))
    assert sent.status_code == 200 and sent.headers["cache-control"] == "no-store"
    for route, params in (("/api/v1/screenings", {}), ("/api/v1/fhir/Observation", {"subject": STUDENT}),
                          ("/api/v1/alerts", {})):
        answer = httpx.get(f"{central}{route}", params=params, headers=tokens.header("clinic"))
        assert answer.status_code == 200, route
        assert answer.headers["cache-control"] == "no-store", route
        assert answer.headers["x-frame-options"] == "DENY", route
        assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'", route
    assert STUDENT in httpx.get(f"{central}/api/v1/screenings", headers=tokens.header("clinic")).text
    refused = httpx.get(f"{central}/api/v1/screenings", headers=tokens.header("staff"))
    assert refused.status_code == 403 and refused.headers["cache-control"] == "no-store"
