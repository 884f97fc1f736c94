"""Sync drain: a gateway holding a backlog of events drains it to central over loopback.

Builds a gateway database with N unsynced events (default 1,000,000), measures in the same run the local
limit — the time just to read the backlog out of SQLite in sync-batch order — then starts a central service
(SQLite) and the gateway, and times the drain until central has every event. Prints both with the gateway's
peak RSS. Target: 1,000,000 events in ≤ 60 s, gateway RSS ≤ 100 MB.

Usage: python -m bench.sync.run [--events 1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import tomli_w

from bench.common import children, machine, new_data_key, peak_rss_mb
from gateway.ingest import Accepted
from gateway.settings import CentralLinkSettings
from gateway.store import Store
from gateway.sync_plan import bound_by_bytes
from harness.netutil import free_port, wait_for_port
from onestop.events import new_event
from onestop.roles import Role, new_token
from sealing import load as load_data_key

SITE = "bench"
KINDS = [("checkin", {"space": "study-24h-2f", "card": "922E5832", "via": "tap", "reservation": None}),
         ("heartbeat", {"uptime_s": 1.0, "outbox": 0}),
         ("checkout", {"space": "study-24h-2f", "card": "922E5832", "via": "tap", "reservation": None})]


def build_backlog(path: Path, total: int, key: str) -> None:
    store = Store(path, sealer=load_data_key(key))  # sealed as the gateway stores it
    batch, now = [], time.time()
    for seq in range(1, total + 1):
        kind, data = KINDS[seq % 3]
        env = new_event(f"kiosk-bench-{seq % 20:02d}", seq, kind, data)
        batch.append(Accepted(env, env.to_json(), now))
        if len(batch) == 20_000:
            store.write_batch(batch, [])
            batch = []
    store.write_batch(batch, [])
    store.close()


def read_limit(path: Path, total: int) -> float:
    """Seconds to read the whole backlog in sync order and batch size, without sending or marking."""
    store = Store(path)
    settings = CentralLinkSettings()
    started = time.perf_counter()
    with store.reader() as conn:
        rows = conn.execute("SELECT id, received, payload FROM events WHERE synced = 0 ORDER BY priority, received")
        read = 0
        while chunk := rows.fetchmany(settings.batch_max):
            read += len(bound_by_bytes(chunk, settings.batch_max_bytes))
    store.close()
    assert read == total
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onestop-bench-") as tmp:
        root = Path(tmp)
        gw_dir = root / "gw"
        gw_dir.mkdir()
        print(f"machine: {machine()}", flush=True)
        started = time.perf_counter()
        key = new_data_key(root / "gw.key")
        build_backlog(gw_dir / "gateway.db", args.events, key)
        print(f"built a backlog of {args.events:,} events in {time.perf_counter() - started:.0f} s", flush=True)
        local = read_limit(gw_dir / "gateway.db", args.events)
        print(f"local limit: reading the backlog out of SQLite takes {local:.1f} s "
              f"({args.events / local:,.0f} events/s)", flush=True)

        token, entry = new_token(f"gateway-{SITE}", Role.GATEWAY, site=SITE)
        central_port, gateway_port = free_port(), free_port()
        (root / "central.toml").write_text(tomli_w.dumps({
            "database_url": f"sqlite:///{root / 'central.db'}", "http": {"port": central_port},
            "pseudonym_key_file": str(root / "keys" / "pseudonym.key"),
            "tokens": [entry.model_dump(mode="json", exclude_none=True)]}))
        (root / "gateway.toml").write_text(tomli_w.dumps({
            "site": SITE, "data_dir": str(gw_dir), "http": {"port": gateway_port},
            "data_key": key,
            "broker": {"port": free_port()},  # no broker: this measures sync alone
            "central": {"url": f"http://127.0.0.1:{central_port}", "token": token}}))
        run = [sys.executable, "-m", "onestop", "--log-level", "WARNING"]
        central = subprocess.Popen([*run, "central", "run", "--config", str(root / "central.toml")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(central_port, timeout=60)
        central_cpu = cpu_seconds(central.pid)
        started = time.perf_counter()
        gateway = subprocess.Popen([*run, "gateway", "run", "--config", str(root / "gateway.toml")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(gateway_port, timeout=60)
            while httpx.get(f"http://127.0.0.1:{gateway_port}/api/v1/stats", timeout=10).json()["backlog"] > 0:
                time.sleep(0.5)
            drain = time.perf_counter() - started
            cpu = {"central": cpu_seconds(central.pid) - central_cpu, "gateway": cpu_seconds(gateway.pid)}
            at_central = httpx.get(f"http://127.0.0.1:{central_port}/api/v1/stats", timeout=30).json()["events"]
            # The MQTT receiver is in the gateway's process; a baseline from before #15 has it in a child.
            receiver = " + ".join(f"{peak_rss_mb(pid):.0f}" for pid in children(gateway.pid))
            print(f"drain: {args.events:,} events to central in {drain:.1f} s ({args.events / drain:,.0f} events/s), "
                  f"central holds {at_central:,}; gateway peak RSS {peak_rss_mb(gateway.pid):.0f} MB"
                  + (f" (its MQTT receiver process: {receiver} MB)" if receiver else ""), flush=True)
            print("CPU during the drain: " + ", ".join(f"{name} {seconds:.1f} s ({seconds / args.events * 1e6:.0f} µs "
                                                       f"per event)" for name, seconds in cpu.items()), flush=True)
        finally:
            gateway.terminate()
            gateway.wait(60)
            central.terminate()
            central.wait(60)


if __name__ == "__main__":
    main()
