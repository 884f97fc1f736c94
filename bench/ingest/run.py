"""Ingest benchmark: events/s durably stored by the gateway vs. the raw rate a plain mosquitto_sub receives.

Several simulated devices (one process each) publish QoS 1 events as fast as they can through a real
Mosquitto. In the same run we measure (1) the broker's own limit: ``mosquitto_sub -q 1`` receiving the same
stream, and (2) the gateway storing it durably, for a few batch-size / batch-wait settings, with the peak
memory of the gateway and of its MQTT receiver process and the batch commit latency (which bounds how late a
PUBACK is), and the CPU each process spends per stored event. The gateway's MQTT receiver runs in its own
process (``gateway/receiver.py``); a ``--baseline`` tree whose receiver is a child process (before #15) has
that child's memory and CPU shown in the "receiver" columns, and counted in PSS.

Every raw run and every gateway run starts with no gateway session at the broker: a persistent session left
subscribed by an earlier gateway run would have the broker queue the whole stream for it during the raw run
too, which was measured to cost 11-12 % of the raw rate and so flattered "% of raw".

``--baseline DIR`` also runs, in every round, the gateway of another source tree (say ``git archive main``
unpacked in DIR) at the default setting, so that a change is compared with what it replaces on the same
machine in the same minutes.

Usage: python -m bench.ingest.run [--devices 4] [--per-device 15000] [--rounds 3] [--baseline DIR
       [--baseline-setting BATCH_MAX,WAIT_MS]]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import httpx
import paho.mqtt.client as paho
import tomli_w
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import (
    BenchBroker,
    children,
    cpu_s,
    machine,
    new_data_key,
    peak_rss_mb,
    pss_mb,
    publish_burst,
    start_broker,
    wait_gateway_subscribed,
)
from harness.netutil import free_port
from onestop import topics

SITE = "bench"
SETTINGS = [(250, 5), (500, 10), (1000, 20)]  # (batch_max, batch_wait_ms)
DEFAULT = (500, 10)  # gateway/settings.py (1000, 20 before the ingest pipeline of #15)


def raw_rate(root: Path, broker: BenchBroker, per_device: int) -> dict:
    """A plain ``mosquitto_sub -q 1`` receiving the stream: the broker's own limit on this machine, with the
    CPU per event of the broker and of mosquitto_sub."""
    forget_gateway_session(broker)  # else the broker also queues the stream for the gateway's old session
    total = per_device * len(broker.devices)
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u",
                            broker.observer.username, "-P", broker.observer.password, "-q", "1", "-C", str(total),
                            "-t", topics.events_filter(SITE)], stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # subscribed
    broker_cpu = cpu_s(broker.pid)
    start = publish_burst(broker.port, SITE, broker.devices, per_device, root)
    _, _, usage = os.wait4(sub.pid, 0)
    sub.returncode = 0
    rate = total / (time.time() - start)
    return {"rate": rate, "broker_us": 1e6 * (cpu_s(broker.pid) - broker_cpu) / total,
            "sub_us": 1e6 * (usage.ru_utime + usage.ru_stime) / total}


def forget_gateway_session(broker: BenchBroker) -> None:
    """Connect as the gateway with a clean start (and no session expiry), then leave: the gateway's persistent
    session, its subscriptions and whatever was queued in it are gone."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=broker.gateway.username, protocol=paho.MQTTv5)
    client.username_pw_set(broker.gateway.username, broker.gateway.password)
    client.connect("127.0.0.1", broker.port, clean_start=True)
    client.loop_start()
    deadline = time.monotonic() + 10
    while not client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()


def _histogram_mean(metrics: str, name: str) -> float:
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith(f"{name}_sum "):
            total = float(line.split()[1])
        elif line.startswith(f"{name}_count "):
            count = float(line.split()[1])
    return total / count if count else float("nan")


def gateway_rate(root: Path, broker: BenchBroker, per_device: int, batch_max: int, wait_ms: int,
                 run: int, source: Path | None = None) -> dict:
    total = per_device * len(broker.devices)
    gateway = broker.gateway
    data = root / f"gw-{batch_max}-{wait_ms}-{run}{'-baseline' if source else ''}"
    port = free_port()
    config = data / "gateway.toml"
    data.mkdir(parents=True)
    # The gateway seals what it stores (a baseline tree from before encryption at rest knows no data_key).
    key = {} if source else {"data_key": new_data_key(root / f"{data.name}.key")}
    config.write_text(tomli_w.dumps({
        "site": SITE, "data_dir": str(data), **key,
        "broker": {"port": broker.port, "username": gateway.username, "password": gateway.password},
        "http": {"port": port}, "ingest": {"batch_max": batch_max, "batch_wait_ms": wait_ms},
        # only listed devices may send (gateway/authority.py); the burst is heartbeats
        "devices": [{"device": device, "kind": "sensor"} for device in broker.devices]}))
    # ``python -m`` puts the working directory first on the path: a baseline runs in its own tree, else it
    # would import this one's code whatever PYTHONPATH says.
    proc = subprocess.Popen([sys.executable, "-m", "onestop", "--log-level", "WARNING", "gateway", "run",
                             "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"PYTHONPATH": str(source)} if source else None, cwd=source)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_gateway_subscribed(url)
        receivers = children(proc.pid)  # none today; one for a baseline from before #15
        pids = (proc.pid, broker.pid, *receivers)
        cpu_before = [cpu_s(pid) for pid in pids]
        start = publish_burst(broker.port, SITE, broker.devices, per_device, root)
        pss = 0.0
        while httpx.get(f"{url}/api/v1/stats").json()["events"] < total:
            pss = max(pss, sum(pss_mb(pid) for pid in (proc.pid, *receivers)))
            time.sleep(0.05)
        elapsed = time.time() - start
        gateway_us, broker_us, *receiver_us = (1e6 * (cpu_s(pid) - before) / total
                                               for pid, before in zip(pids, cpu_before, strict=True))
        metrics = httpx.get(f"{url}/metrics").text
        return {"rate": total / elapsed, "rss": peak_rss_mb(proc.pid),
                "receiver_rss": sum(peak_rss_mb(pid) for pid in receivers),
                "pss": pss, "gateway_us": gateway_us, "receiver_us": sum(receiver_us), "broker_us": broker_us,
                "batch": _histogram_mean(metrics, "onestop_gateway_batch_size"),
                "commit_ms": 1000 * _histogram_mean(metrics, "onestop_gateway_batch_commit_seconds")}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--per-device", type=int, default=15_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="raw and gateway runs alternate this many times; medians are reported")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another source tree whose gateway also runs in every round, at the default setting")
    parser.add_argument("--baseline-setting", default=None, metavar="BATCH_MAX,WAIT_MS",
                        help="the baseline's batch setting, when its default differs from this tree's "
                             f"(default: {DEFAULT[0]},{DEFAULT[1]})")
    args = parser.parse_args()
    devices = [f"bench-device-{i:02d}" for i in range(args.devices)]
    total = args.devices * args.per_device
    with tempfile.TemporaryDirectory(prefix="onestop-bench-") as tmp:
        root = Path(tmp)
        broker = start_broker(root, SITE, devices)
        try:
            print(f"machine: {machine()}")
            print(f"{total:,} events from {args.devices} devices, QoS 1; {args.rounds} rounds, each a raw "
                  "mosquitto_sub run followed by the gateway at every setting; % raw is against the same round")
            raws: list[dict] = []
            runs: list[tuple[int, int, Path | None]] = [(b, w, None) for b, w in SETTINGS]
            if args.baseline:
                batch_max, wait_ms = (map(int, args.baseline_setting.split(",")) if args.baseline_setting
                                      else DEFAULT)
                runs.append((batch_max, wait_ms, args.baseline.resolve()))
            results: dict[tuple[int, int, Path | None], list[dict]] = {setting: [] for setting in runs}
            for run in range(args.rounds):
                raws.append(raw_rate(root, broker, args.per_device))
                # Every other round in reverse order, so that no setting always runs last after the raw run.
                for batch_max, wait_ms, source in runs if run % 2 == 0 else runs[::-1]:
                    forget_gateway_session(broker)
                    r = gateway_rate(root, broker, args.per_device, batch_max, wait_ms, run, source)
                    results[batch_max, wait_ms, source].append(r | {"share": r["rate"] / raws[-1]["rate"]})
                print(f"round {run + 1}: raw {raws[-1]['rate']:,.0f}/s, gateway " + ", ".join(
                    f"{rs[-1]['rate']:,.0f}/s ({100 * rs[-1]['share']:.0f} %)" for rs in results.values()),
                    flush=True)
            raw = {key: median(r[key] for r in raws) for key in raws[0]}
            print(f"raw mosquitto_sub: {raw['rate']:,.0f} events/s (median); CPU per event: broker "
                  f"{raw['broker_us']:.0f} µs, mosquitto_sub {raw['sub_us']:.0f} µs")
            print("RSS: peak resident memory of the gateway process and of a receiver process (a baseline's; 0: "
                  "none); PSS: the most they held together, shared pages counted once (sampled every 50 ms); "
                  "CPU µs per stored event per process; medians")
            print(f"{'batch_max':>9} {'wait_ms':>7} {'events/s':>10} {'% raw':>6} {'mean batch':>10} "
                  f"{'commit ms':>9} {'RSS MB':>6} {'receiver':>8} {'PSS MB':>6} {'CPU µs/event: gateway':>21} "
                  f"{'receiver':>8} {'broker':>6}")
            for (batch_max, wait_ms, source), rs in results.items():
                m = {key: median(r[key] for r in rs) for key in rs[0]}
                print(f"{batch_max:>9} {wait_ms:>7} {m['rate']:>10,.0f} {100 * m['share']:>5.0f}% "
                      f"{m['batch']:>10.0f} {m['commit_ms']:>9.1f} {m['rss']:>6.0f} {m['receiver_rss']:>8.0f} "
                      f"{m['pss']:>6.0f} {m['gateway_us']:>21.0f} {m['receiver_us']:>8.0f} {m['broker_us']:>6.0f}"
                      + (f"  baseline: {source}" if source else ""), flush=True)
        finally:
            broker.process.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
