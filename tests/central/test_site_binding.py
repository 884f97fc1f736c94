"""Gateway tokens act for one site only, from the technician's command to a running central service.

Every test here runs the real command line and a real central process on a free port: what a technician
pastes is what central reads, and central refuses to start with a gateway token that is bound to no site.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import httpx

from harness.localsite import ServiceProcess
from harness.netutil import free_port
from onestop.roles import Role, new_token
from tests.central.factories import GZIP, alert, batch, checks, device, gz, records_body

HOME, OTHER = "site-a", "site-b"


def provision_gateway(site: str, directory: Path) -> tuple[str, str]:
    """``onestop provision gateway register``: the gateway's bearer token and central's snippet, as printed."""
    proc = subprocess.run([sys.executable, "-m", "onestop", "provision", "gateway", "register", "--site", site,
                           "--dir", str(directory)], capture_output=True, text=True, timeout=60, check=True)
    out = proc.stdout
    central_snippet = out[out.index("# central's configuration"):]
    gateway_snippet = tomllib.loads(out[out.index("[central]"):out.index("# central's configuration")])
    return gateway_snippet["central"]["token"], central_snippet


def central_config(root: Path, port: int, tokens_toml: str, extra: str = "") -> Path:
    path = root / "central.toml"
    path.write_text(f'database_url = "sqlite:///{root / "central.db"}"\n'
                    f'pseudonym_key_file = "{root / "keys" / "pseudonym.key"}"\n{extra}\n'
                    f'[http]\nhost = "127.0.0.1"\nport = {port}\n\n{tokens_toml}\n', encoding="utf-8")
    return path


def start_central(root: Path, config: Path, port: int) -> ServiceProcess:
    central = ServiceProcess("central", ["central", "run", "--config", str(config)],
                             f"http://127.0.0.1:{port}/healthz", root / "central.log")
    central.start()
    return central


def test_a_provisioned_gateway_token_acts_for_its_own_site_only(tmp_path):
    token, snippet = provision_gateway(HOME, tmp_path / "provision")
    port = free_port()
    central = start_central(tmp_path, central_config(tmp_path, port, snippet), port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            def ingest(site: str) -> int:
                body = gz(batch(site, checks(f"kiosk-{site}", "study-room", 2)))
                return http.post("/api/v1/ingest", content=body, headers=GZIP).status_code

            def alerts(site: str) -> int:
                return http.post("/api/v1/alerts/sync",
                                 json=records_body("alerts", site, [alert(site)])).status_code

            def fleet(site: str) -> int:
                return http.post("/api/v1/fleet/sync",
                                 json=records_body("devices", site, [device(f"kiosk-{site}")])).status_code

            assert (ingest(HOME), alerts(HOME), fleet(HOME)) == (200, 200, 200)
            assert (ingest(OTHER), alerts(OTHER), fleet(OTHER)) == (403, 403, 403)
            assert http.get(f"/api/v1/gateways/{OTHER}/config").status_code == 403
            assert http.get("/api/v1/stats").json()["events"] == 2  # nothing of the other site's got in
    finally:
        central.stop()


def unbound_tokens() -> str:
    # The old naming convention ("gateway:<site>") no longer binds anything: it is as unbound as any name.
    entries = [new_token(name, Role.GATEWAY)[1] for name in ("bench-gateway", "gateway:north-b3")]
    return "\n".join(f'[[tokens]]\nname = "{e.name}"\nrole = "gateway"\nsha256 = "{e.sha256}"\n' for e in entries)


def test_central_refuses_to_start_with_a_gateway_token_bound_to_no_site(tmp_path):
    config = central_config(tmp_path, free_port(), unbound_tokens())
    proc = subprocess.run([sys.executable, "-m", "onestop", "central", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())  # the console may wrap the line
    assert "not bound to a site" in message
    assert "'bench-gateway'" in message and "'gateway:north-b3'" in message
    assert "test_rig" in message
    assert not (tmp_path / "central.db").exists()  # refused before touching anything


def test_a_test_rig_says_so_and_then_starts_with_unbound_gateway_tokens(tmp_path):
    port = free_port()
    central = start_central(tmp_path, central_config(tmp_path, port, unbound_tokens(), extra="test_rig = true"),
                            port)
    try:
        assert central.running
        assert "may act for every site" in (tmp_path / "central.log").read_text()
    finally:
        central.stop()
