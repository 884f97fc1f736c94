"""Central ingest benchmark: events/s accepted by the central service from 10 gateways sending at once.

The central service runs as a real process (``onestop central run``) on loopback, once on SQLite and once on
a throwaway PostgreSQL cluster (default, durable settings: fsync and synchronous_commit on). Ten gateway
threads each post their batches one after another, exactly as ``gateway.sync`` encodes them (gzip level 5,
stored envelopes spliced in), all starting together. Bodies are encoded before the clock starts, so the
clients cost little CPU during the run (they share the machine's cores with the server). Every event is
checked to be stored exactly once afterwards, and a second round resends every batch to time duplicates.

Usage: python -m bench.central_ingest.run [--gateways 10] [--batches 10] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import tomli_w

from bench.common import machine, peak_rss_mb
from gateway.sync_plan import encode_batch
from harness.localsite import ServiceProcess
from harness.netutil import free_port
from harness.pgtemp import TempPostgres
from onestop.events import new_event
from onestop.roles import Role, new_token

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def make_bodies(gateways: int, batches: int, size: int) -> dict[str, list[bytes]]:
    """Per gateway site, its gzip batch bodies: check-ins and check-outs of a busy building, some readings."""
    out: dict[str, list[bytes]] = {}
    for g in range(gateways):
        site = f"bench-{g:02d}"
        rows, seq = [], {}
        for i in range(batches * size):
            at = T0 + timedelta(seconds=i)
            if i % 10 == 9:
                device, kind = f"sensor-{site}", "reading"
                data = {"sensor": "door", "code": "people_count", "value": float(i % 50), "unit": "{people}",
                        "space": "study-24h-2f"}
            else:
                device, kind = f"kiosk-{site}-{i % 4}", ("checkin" if i % 2 == 0 else "checkout")
                data = {"space": "study-24h-2f", "card": f"{0xA0000000 + (i // 2) % 5000:08X}", "via": "tap"}
            seq[device] = seq.get(device, 0) + 1
            env = new_event(device, seq[device], kind, data, ts=at)
            rows.append((env.id, at.timestamp() + 0.2, env.to_json()))
        out[site] = [encode_batch(site, rows[b * size:(b + 1) * size]) for b in range(batches)]
    return out


def send_all(url: str, tokens: dict[str, str], bodies: dict[str, list[bytes]]) -> tuple[float, list[float], int]:
    """Every gateway posts its batches in order, all gateways at once; returns seconds, latencies, new events."""
    start = threading.Barrier(len(bodies) + 1)
    latencies: list[float] = []
    new = [0]
    lock = threading.Lock()
    errors: list[str] = []

    def gateway(site: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[site]}", "Content-Type": "application/json",
                   "Content-Encoding": "gzip"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            start.wait()
            for body in bodies[site]:
                began = time.perf_counter()
                answer = client.post("/api/v1/ingest", content=body)
                took = time.perf_counter() - began
                with lock:
                    latencies.append(took)
                    if answer.status_code != 200:
                        errors.append(f"{site}: {answer.status_code}")
                    else:
                        new[0] += answer.json()["new"]

    threads = [threading.Thread(target=gateway, args=(site,)) for site in bodies]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"ingest failed: {errors[:5]}")
    return elapsed, latencies, new[0]


def run_backend(name: str, database_url: str, root: Path, bodies: dict[str, list[bytes]]) -> dict[str, object]:
    """Start central on ``database_url``, send everything twice, report."""
    tokens, entries = {}, []
    for site in bodies:
        token, entry = new_token(f"gateway-{site}", Role.GATEWAY, site=site)
        tokens[site] = token
        entries.append(entry.model_dump(mode="json", exclude_none=True))
    port = free_port()
    config = root / f"central-{name}.toml"
    config.write_text(tomli_w.dumps({"database_url": database_url,
                                     "pseudonym_key_file": str(root / "keys" / "pseudonym.key"),
                                     "http": {"host": "127.0.0.1", "port": port},
                                     "tokens": entries}))
    service = ServiceProcess("central", ["central", "run", "--config", str(config)],
                             f"http://127.0.0.1:{port}/healthz", root / f"central-{name}.log")
    service.start()
    try:
        url = f"http://127.0.0.1:{port}"
        total = sum(_count(b) for b in bodies.values())
        seconds, latencies, new = send_all(url, tokens, bodies)
        dup_seconds, _, again = send_all(url, tokens, bodies)
        stats = httpx.get(f"{url}/api/v1/stats").json()
        rss = peak_rss_mb(service._proc.pid) if service._proc else float("nan")  # noqa: SLF001
    finally:
        service.stop()
    if new != total or again != 0 or stats["events"] != total or stats["duplicates"] != total:
        raise SystemExit(f"{name}: stored {stats['events']} of {total} (new {new}, resent-new {again})")
    latencies.sort()
    return {"backend": name, "events": total, "seconds": seconds, "rate": total / seconds,
            "dup_rate": total / dup_seconds, "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))], "rss": rss}


def _count(batches: list[bytes]) -> int:
    import gzip
    import json

    return sum(len(json.loads(gzip.decompress(b))["events"]) for b in batches)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=10)
    parser.add_argument("--batches", type=int, default=10, help="batches per gateway")
    parser.add_argument("--batch-size", type=int, default=1000, help="events per batch")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="run one backend only")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"{args.gateways} gateways x {args.batches} batches x {args.batch_size} events, gzip, all at once")
    bodies = make_bodies(args.gateways, args.batches, args.batch_size)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-central-") as tmp:
        root = Path(tmp)
        if args.only in (None, "sqlite"):
            results.append(run_backend("sqlite", f"sqlite:///{root / 'central.db'}", root, bodies))
        if args.only in (None, "postgresql"):
            with TempPostgres(durable=True) as cluster:
                results.append(run_backend("postgresql", cluster.create_database("bench"), root, bodies))
    print(f"{'backend':<11} {'events':>8} {'seconds':>8} {'new events/s':>13} {'resent events/s':>16} "
          f"{'batch p50':>10} {'batch p95':>10} {'server RSS':>11}")
    for r in results:
        print(f"{r['backend']:<11} {r['events']:>8} {r['seconds']:>8.2f} {r['rate']:>13,.0f} {r['dup_rate']:>16,.0f} "
              f"{r['p50'] * 1000:>8.0f}ms {r['p95'] * 1000:>8.0f}ms {r['rss']:>8.0f} MB")


if __name__ == "__main__":
    main()
