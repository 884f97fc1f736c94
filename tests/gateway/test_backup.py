"""A gateway backed up while it runs (real Mosquitto, gateway and central processes) restores into a fresh data
directory, and the gateway started on it has everything: events, alerts, central's site configuration and
where its sync stood."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib

import httpx
import tomli_w

from gateway.backup import restore
from gateway.settings import load
from harness.localsite import ServiceProcess, gateway_process, gateway_ready
from harness.netutil import free_port
from onestop import topics
from onestop.events import new_event
from tests.conftest import KIOSKS
from tests.helpers import query, raw_client, wait_until

SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"
CONFIG = {"spaces": [{"id": KIOSKS[0].space, "name": "24h study room", "capacity": 40},
                     {"id": KIOSKS[2].space, "name": "Skills lab", "capacity": 12},
                     {"id": "quiet-room", "name": "Quiet room", "capacity": 8}],
          "devices": [{"device": k.device, "kind": k.mode, "space": k.space} for k in KIOSKS]}


def onestop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onestop", *args], capture_output=True, text=True, timeout=60)


def headers(site, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.tokens[role]}"}


def test_a_running_gateway_backed_up_restores_into_a_fresh_directory_with_everything(site, station, broker,
                                                                                     central, tmp_path):
    gateway = gateway_process(site)
    gateway.env["ONESTOP_GATEWAY__CENTRAL__CONFIG_INTERVAL_S"] = "0.3"
    gateway.start()
    admin = headers(site, "admin")
    assert httpx.put(f"{site.central_url}/api/v1/gateways/{site.site}/config", json=CONFIG,
                     headers=admin).status_code in (200, 201)
    client = raw_client(site.broker_port, station, site.device_users[station].password, "backup-station")
    screening = new_event(station, 1, "screening", {
        "subject": "922E5832", "session": SESSION, "complete": True,
        "measurements": [{"code": "8480-6", "value": 190, "unit": "mm[Hg]"},
                         {"code": "8462-4", "value": 125, "unit": "mm[Hg]"}]})
    client.publish(topics.event(site.site, station, "screening"), screening.to_json(), qos=1).wait_for_publish(10)
    for seq in range(2, 40):
        beat = new_event(station, seq, "heartbeat", {"uptime_s": seq, "outbox": 0})
        client.publish(topics.event(site.site, station, "heartbeat"), beat.to_json(), qos=1).wait_for_publish(10)
    client.loop_stop()

    def settled():
        stats = httpx.get(f"{site.gateway_url}/api/v1/stats").json()
        alerts = httpx.get(f"{site.gateway_url}/api/v1/alerts", headers=headers(site, "clinic")).json()
        return (stats["events"] >= 39 and stats["backlog"] == 0 and alerts
                and site.path("gateway/site-config.json").exists() and stats)

    before = wait_until(settled, timeout=30, what="events synced, the alert raised, central's configuration kept")
    alerts_before = httpx.get(f"{site.gateway_url}/api/v1/alerts", headers=headers(site, "clinic")).json()
    archive = tmp_path / "backups" / "gateway.tar"
    made = onestop("gateway", "backup", "--config", str(site.path("gateway.toml")), str(archive))  # while it runs
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    assert "no keys in it" in made.stderr
    gateway.stop()
    cursors = query(site.path("gateway/gateway.db"), "SELECT name, value FROM sync_cursors ORDER BY name")

    # A replacement gateway: a fresh data directory, and the WAN down (the configuration must come from the backup).
    config = tomllib.loads(site.path("gateway.toml").read_text())
    config["data_dir"] = str(tmp_path / "replacement")
    config["central"]["url"] = f"http://127.0.0.1:{free_port()}"
    fresh = tmp_path / "replacement.toml"
    fresh.write_text(tomli_w.dumps(config))
    manifest, moved = restore(load(fresh), archive)  # in this process: the command's wiring is as backup's
    assert (manifest.site, moved) == (site.site, [])
    assert not (tmp_path / "replacement" / "presence.key").exists()  # keys only with --include-keys

    restored = ServiceProcess("gateway", ["gateway", "run", "--config", str(fresh)], f"{site.gateway_url}/healthz",
                              site.path("logs/restored.log"), ready=gateway_ready)
    restored.start()
    try:
        stats = httpx.get(f"{site.gateway_url}/api/v1/stats").json()
        assert (stats["events"], stats["backlog"], stats["synced"]) == (before["events"], 0, before["synced"])
        alerts = httpx.get(f"{site.gateway_url}/api/v1/alerts", headers=headers(site, "clinic")).json()
        assert [(a["id"], a["subject"], a["status"]) for a in alerts] == \
               [(a["id"], a["subject"], a["status"]) for a in alerts_before]
        spaces = httpx.get(f"{site.gateway_url}/api/v1/spaces", headers=admin).json()
        assert {s["id"]: s["capacity"] for s in spaces} == {s["id"]: s["capacity"] for s in CONFIG["spaces"]}
    finally:
        restored.stop()
    assert query(tmp_path / "replacement" / "gateway.db", "SELECT name, value FROM sync_cursors ORDER BY name") \
        == cursors
