"""The gateway in transit and in the browser: HTTPS with a certificate from the site CA that `onestop
provision` issued, and the security headers on the dashboard and on personal data."""

from __future__ import annotations

import os
import ssl
import stat

import httpx
import pytest
from typer.testing import CliRunner

from harness.localsite import ServiceProcess, gateway_ready
from onestop import topics
from onestop.events import new_event
from provisioning.cli import app as provision
from tests.gateway.conftest import STATION
from tests.helpers import raw_client, wait_until
from tests.provisioning.conftest import current_user, free_ports

SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"
CARD = "922E5832"


def provision_gateway_certificate(tmp_path):
    """`onestop provision init` and `gateway cert`, as a technician runs them; returns (directory, CA file)."""
    runner = CliRunner(env={"COLUMNS": "200"})
    root, tls = tmp_path / "provision", tmp_path / "tls"
    port, tls_port = free_ports(2)
    made = runner.invoke(provision, ["init", "--site", "test-site", "--dir", str(root), "--port", str(port),
                                     "--tls-port", str(tls_port), "--broker-user", current_user()])
    assert made.exit_code == 0, made.output
    issued = runner.invoke(provision, ["gateway", "cert", "--host", "gw.test-site.campus.example", "--ip",
                                       "127.0.0.1", "--dir", str(root), "--out", str(tls)])
    assert issued.exit_code == 0, issued.output
    assert f'tls_key = "{tls / "gateway.key"}"' in issued.output
    return tls, root / "ca" / "ca.crt"


@pytest.fixture
def tls_gateway(site, station, broker, tmp_path):
    """The gateway serving HTTPS with the certificate provisioning issued; yields (https URL, site CA context)."""
    tls, ca_file = provision_gateway_certificate(tmp_path)
    site.gateway_extra = {"http": {"host": "127.0.0.1", "port": site.gateway_port,
                                   "tls_cert": str(tls / "gateway.crt"), "tls_key": str(tls / "gateway.key")}}
    site.write()
    trust = ssl.create_default_context(cafile=str(ca_file))
    url = f"https://127.0.0.1:{site.gateway_port}"
    proc = ServiceProcess("gateway", ["gateway", "run", "--config", str(site.path("gateway.toml"))],
                          f"{url}/healthz", site.path("logs/gateway.log"), ready=gateway_ready, verify=trust)
    proc.start()
    yield url, trust
    proc.stop()


def send_urgent_screening(site):
    device = STATION  # only a health station may send screenings
    cred = site.device_users[device]
    client = raw_client(site.broker_port, cred.username, cred.password, "transport-hs")
    env = new_event(device, 1, "screening", {"subject": CARD, "session": SESSION, "complete": True,
                                             "measurements": [{"code": "59408-5", "value": 88, "unit": "%"}]})
    client.publish(topics.event(site.site, device, "screening"), env.to_json(), qos=1).wait_for_publish(5)
    client.disconnect()


def dial_as(url, hostname, trust):
    """GET ``url`` on a fresh connection that checks the certificate against ``hostname``."""
    with httpx.Client(verify=trust) as client:
        return client.get(url, extensions={"sni_hostname": hostname})


def test_gateway_key_is_written_for_its_owner_only(tmp_path):
    tls, _ = provision_gateway_certificate(tmp_path)
    assert stat.S_IMODE(os.stat(tls / "gateway.key").st_mode) == 0o600


def test_gateway_serves_alerts_over_https_verified_against_the_site_ca_and_refuses_plain_http(site, tls_gateway):
    url, trust = tls_gateway
    health = httpx.get(f"{url}/healthz", verify=trust)
    assert health.status_code == 200 and health.json()["site"] == site.site
    # The certificate names the host browsers dial: another name fails verification even with the CA trusted.
    assert dial_as(f"{url}/healthz", "gw.test-site.campus.example", trust).status_code == 200
    with pytest.raises(httpx.ConnectError, match="match"):
        dial_as(f"{url}/healthz", "elsewhere.campus.example", trust)
    with pytest.raises(httpx.ConnectError):  # not a public CA's certificate: nothing else trusts it
        httpx.get(f"{url}/healthz")

    send_urgent_screening(site)
    clinic = {"Authorization": f"Bearer {site.tokens['clinic']}"}
    alerts = wait_until(lambda: httpx.get(f"{url}/api/v1/alerts", headers=clinic, verify=trust).json(),
                        what="the clinic's alert over HTTPS")
    assert alerts[0]["subject"] == CARD

    # The same port spoken to in plain HTTP gives nothing: no token or card crosses the network in clear.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{site.gateway_port}/api/v1/alerts", headers=clinic)


def test_gateway_dashboard_cannot_be_framed_and_personal_data_is_not_cached(site, station, lone_gateway):
    page = httpx.get(f"{site.gateway_url}/")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'sha256-" in policy
    assert "script-src 'unsafe-inline'" not in policy

    send_urgent_screening(site)
    clinic = {"Authorization": f"Bearer {site.tokens['clinic']}"}
    wait_until(lambda: httpx.get(f"{site.gateway_url}/api/v1/alerts", headers=clinic).json(), what="alert")
    for route in ("/api/v1/alerts", "/api/v1/overview"):
        answer = httpx.get(f"{site.gateway_url}{route}", headers=clinic)
        assert CARD in answer.text, route
        assert answer.headers["cache-control"] == "no-store", route
        assert answer.headers["x-frame-options"] == "DENY", route
        assert answer.headers["content-security-policy"].startswith("default-src 'none'"), route
    technician = {"Authorization": f"Bearer {site.tokens['technician']}"}
    assert httpx.get(f"{site.gateway_url}/api/v1/quarantine", headers=technician).headers["cache-control"] \
        == "no-store"
