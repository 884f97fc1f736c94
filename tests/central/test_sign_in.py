"""People sign in to central as themselves: end to end in headless Chromium against a real OpenID provider
(``oidc-provider``, tests/oidc_provider.py), central served by uvicorn.

Two centrals share one provider: ``campus`` (sessions of a minute) and ``brief`` (sessions that end after a
second without a request, for expiry).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest

from central.api import create_app
from central.settings import CentralSettings
from central.store import CentralStore
from harness.netutil import free_port
from onestop.roles import Role, new_token
from tests.browser import new_page, screenshot
from tests.central.factories import alert, records_body
from tests.helpers import served
from tests.oidc_provider import oidc_provider
from web.http import HttpSettings
from web.oidc import OidcSettings

SITE = "north-b3"
CARD = "04A1B2C3D4"
ACCOUNTS = {
    "casey": {"name": "Casey Counsellor", "email": "casey@uni.example", "groups": ["staff-all", "counselling-team"]},
    "nico": {"name": "Nico Nobody", "email": "nico@uni.example", "groups": ["students"]},
    "dana": {"name": "Dana Double", "email": "dana@uni.example", "groups": ["clinic-team", "facilities-team"]},
}
GROUPS = {"counselling-team": Role.COUNSELLING, "clinic-team": Role.CLINIC, "facilities-team": Role.FACILITIES}


@dataclass
class Central:
    url: str
    admin: httpx.Client  # bearer token of an admin, to read the audit log


@pytest.fixture(scope="module")
def centrals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Central]]:
    tmp = tmp_path_factory.mktemp("sign-in")
    ports = {"campus": free_port(), "brief": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    admin_token, admin = new_token("test-admin", Role.ADMIN)
    gateway_token, gateway = new_token("gateway-north-b3", Role.GATEWAY, site=SITE)
    with ExitStack() as stack:
        idp = stack.enter_context(oidc_provider([f"{u}/auth/callback" for u in urls.values()], ACCOUNTS, tmp))
        centrals = {}
        for name, url in urls.items():
            lifetime, idle = (60, 60) if name == "campus" else (30, 1)
            oidc = OidcSettings(issuer=idp.issuer, client_id=idp.client_id, client_secret_file=idp.secret_file,
                                redirect_base_url=url, scope="openid profile email groups", groups=GROUPS,
                                session_lifetime=lifetime, idle_timeout=idle)
            settings = CentralSettings(database_url=f"sqlite:///{tmp / name}.db", tokens=[admin, gateway],
                                       pseudonym_key_file=tmp / name / "pseudonym.key", oidc=oidc,
                                       http=HttpSettings(port=ports[name]))
            store = CentralStore(settings.database_url)
            stack.callback(store.close)
            app = create_app(settings, store)
            client = stack.enter_context(served(app, headers={"Authorization": f"Bearer {admin_token}"},
                                                port=ports[name]))
            synced = client.post("/api/v1/alerts/sync", headers={"Authorization": f"Bearer {gateway_token}"},
                                 json=records_body("alerts", SITE, [alert(team="counselling", rule="phq9-item9",
                                                                          severity="urgent", subject=CARD,
                                                                          summary="PHQ-9 item 9 answered")]))
            assert synced.status_code == 200, synced.text
            centrals[name] = Central(url, client)
        yield centrals


def sign_in(page, central: Central, login: str) -> None:
    """Open the dashboard, follow "Sign in with your campus account", and use the provider's form."""
    page.goto(f"{central.url}/dashboard")
    page.click("#campus-signin")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")


def test_a_counsellor_signs_in_sees_the_counselling_view_and_the_audit_names_her(browser, centrals, tmp_path):
    campus = centrals["campus"]
    page = new_page(browser)
    sign_in(page, campus, "casey")
    page.wait_for_selector("body[data-ready=yes]")
    assert page.url == f"{campus.url}/dashboard"
    assert page.inner_text("#who") == "Casey Counsellor · counselling"
    teams = page.locator("#alert-summary tbody td:first-child").all_inner_texts()
    assert teams == ["counselling"], "the counselling role sees its own team's alerts, no other"
    screenshot(page, tmp_path / "signed-in-counsellor.png")
    # The dashboard's alert list named a student: that read is audited with the person, not a token.
    audit = campus.admin.get("/api/v1/audit", params={"principal": "casey@uni.example"}).json()
    alert_reads = [row for row in audit if row["route"] == "/api/v1/alerts"]
    assert alert_reads, audit
    assert {(r["role"], r["person_sub"], r["person_name"], r["person_email"]) for r in alert_reads} == \
        {("counselling", "casey", "Casey Counsellor", "casey@uni.example")}
    assert all(r["subject_ref"] for r in alert_reads)
    # A read of questionnaires from the page: the session admits it and the audit row names her too.
    status = page.evaluate("fetch('/api/v1/questionnaires').then((r) => r.status)")
    assert status == 200
    rows = campus.admin.get("/api/v1/audit", params={"principal": "casey@uni.example"}).json()
    assert rows[0]["route"] == "/api/v1/questionnaires" and rows[0]["person_sub"] == "casey"
    # Her session may read, but not change things from elsewhere than central's own pages.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    read = httpx.get(f"{campus.url}/api/v1/alerts", cookies=cookies)
    assert read.status_code == 200 and read.json()[0]["subject"] == CARD
    assert read.headers["cache-control"] == "no-store", "no browser or proxy keeps what a session read"
    erase = httpx.delete(f"{campus.url}/api/v1/students/{CARD}", cookies=cookies)
    assert erase.status_code == 403 and "this service's pages" in erase.json()["detail"]
    # Sign out: the browser's session is gone, the dashboard asks to sign in again.
    page.click("#signout")
    assert "signed out" in page.inner_text("#message")
    assert not [c for c in page.context.cookies() if c["name"] == "onestop_session"]
    page.goto(f"{campus.url}/dashboard")
    page.wait_for_selector("#login:not([hidden])")
    assert page.is_visible("#campus-signin")


def test_a_person_in_no_mapped_group_is_refused_with_a_clear_page(browser, centrals):
    page = new_page(browser)
    sign_in(page, centrals["campus"], "nico")
    page.wait_for_selector("#message")
    assert page.title() == "Sign-in refused"
    assert "none of the groups" in page.inner_text("#message")
    assert httpx.get(f"{centrals['campus'].url}/auth/me",
                     cookies={c["name"]: c["value"] for c in page.context.cookies()}).json()["signed_in"] is False


def test_a_person_whose_groups_mix_a_health_role_with_another_is_refused(browser, centrals):
    page = new_page(browser)
    sign_in(page, centrals["campus"], "dana")
    page.wait_for_selector("#message")
    assert page.title() == "Sign-in refused"
    assert "clinic, facilities" in page.inner_text("#message")


def test_an_expired_session_is_refused_and_the_page_asks_to_sign_in_again(browser, centrals):
    brief = centrals["brief"]
    page = new_page(browser)
    sign_in(page, brief, "casey")
    page.wait_for_selector("body[data-ready=yes]")
    time.sleep(1.3)  # idle past the timeout; the cookie itself is still valid for 30 s
    page.evaluate("window.refresh()")
    page.wait_for_selector("#login:not([hidden])", timeout=5000)
    assert page.inner_text("#error") == "your session ended after a while without use; sign in again"
    assert page.is_visible("#campus-signin") and page.get_attribute("#main", "hidden") is not None
    answer = page.evaluate("fetch('/api/v1/questionnaires').then((r) => r.status)")
    assert answer == 401


def test_a_forged_callback_is_refused(centrals):
    answer = httpx.get(f"{centrals['campus'].url}/auth/callback", params={"code": "stolen", "state": "guessed"})
    assert answer.status_code == 400
    assert "could not be completed" in answer.text
