"""People sign in to a gateway's dashboard through the same campus IdP as central (a real ``oidc-provider``),
and when the IdP cannot be reached the building's break-glass bearer token still opens it.

The gateway's API is served over a real store alone (``StoreOnly``, as in test_read_model.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from gateway import alerts as rules
from gateway.alert_store import GatewayAlerts
from gateway.api import create_app
from gateway.store import Store
from harness.netutil import free_port
from onestop.roles import Role, new_token
from tests.browser import new_page
from tests.gateway.test_read_model import StoreOnly
from tests.helpers import served
from tests.oidc_provider import oidc_provider
from web.oidc import OidcSettings

ACCOUNTS = {"tara": {"name": "Tara Technician", "email": "tara@uni.example", "groups": ["technicians"]}}
GROUPS = {"technicians": Role.TECHNICIAN}


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "gateway.db")
    yield store
    store.close()


def test_a_technician_signs_in_and_acknowledges_an_alert_as_herself(browser, store, tmp_path):
    raised = rules.device_offline_alert("test-site", "kiosk-1", 12, datetime.now(UTC))
    GatewayAlerts(store).insert([raised])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with oidc_provider([f"{url}/auth/callback"], ACCOUNTS, tmp_path) as idp:
        oidc = OidcSettings(issuer=idp.issuer, client_id=idp.client_id, client_secret_file=idp.secret_file,
                            redirect_base_url=url, scope="openid profile email groups", groups=GROUPS)
        with served(create_app(StoreOnly(store), [], oidc=oidc), port=port):
            page = new_page(browser)
            page.goto(url + "/")
            page.click("#campus-signin")
            page.fill("input[name=login]", "tara")
            page.fill("input[name=password]", "any password")
            page.click("button[type=submit]")
            page.wait_for_selector(f'[data-alert="{raised.id}"]')
            assert page.inner_text("#who") == "Tara Technician · technician"
            page.click(f'button[data-act="acknowledge"][data-id="{raised.id}"]')
            page.locator(f'[data-alert="{raised.id}"]').filter(has_text="acknowledged").wait_for(timeout=5000)
        # The same provider reached under another name: its discovery document names another issuer.
        other = oidc.model_copy(update={"issuer": idp.issuer.replace("127.0.0.1", "localhost")})
        with served(create_app(StoreOnly(store), [], oidc=other)) as client:
            refused = client.get("/auth/login")
            assert refused.status_code == 502 and "calls itself" in refused.text
    assert GatewayAlerts(store).get(raised.id).acknowledged_by == "tara@uni.example"


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "client-secret"
    path.write_text("secret\n")
    path.chmod(0o600)
    return path


def test_while_the_campus_idp_is_unreachable_sign_in_says_so_and_break_glass_tokens_work(store, secret_file,
                                                                                         caplog):
    dead_idp = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the WAN is down
    port = free_port()
    oidc = OidcSettings(issuer=dead_idp, client_id="gw", client_secret_file=secret_file,
                        redirect_base_url=f"http://127.0.0.1:{port}", groups=GROUPS, timeout=2)
    token, entry = new_token("break-glass-test-site", Role.TECHNICIAN, expires=datetime.now(UTC) + timedelta(days=3))
    with served(create_app(StoreOnly(store), [entry], oidc=oidc), port=port) as client:
        answer = client.get("/auth/login")
        assert answer.status_code == 503
        assert "cannot be reached" in answer.text and "break-glass" in answer.text
        assert client.get("/api/v1/overview").status_code == 401
        caplog.set_level(logging.WARNING, logger="web.auth")
        opened = client.get("/api/v1/overview", headers={"Authorization": f"Bearer {token}"})
        assert opened.status_code == 200 and opened.json()["site"] == "test-site"
        assert "onestop_gateway_tokens_expiring_soon 1.0" in client.get("/metrics").text
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("break-glass:")] == \
        ["break-glass: token of 'break-glass-test-site' (technician) used for GET /api/v1/overview"]
