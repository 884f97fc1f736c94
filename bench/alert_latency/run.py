"""Alert latency: from a health station publishing an urgent screening to the alert on ``alert/clinic``.

A real broker and gateway process; one device publishes screenings with a blood-pressure crisis one at a
time while ordinary traffic (heartbeats from other devices) keeps the gateway busy; a staff-display
subscriber timestamps each alert. Prints p50 / p99 / max. Target p99 ≤ 500 ms.

Usage: python -m bench.alert_latency.run [--samples 200]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import tomli_w
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import machine, new_data_key, start_broker, wait_gateway_subscribed
from harness.netutil import free_port
from onestop import topics
from onestop.events import new_event

SITE = "bench"


def client(port: int, user: str, password: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-bench", protocol=paho.MQTTv5)
    c.username_pw_set(user, password)
    c.connect("127.0.0.1", port)
    c.loop_start()
    while not c.is_connected():
        time.sleep(0.01)
    return c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    station, noise = "hs-bench-station", [f"kiosk-bench-{i}" for i in range(3)]
    with tempfile.TemporaryDirectory(prefix="onestop-bench-") as tmp:
        root = Path(tmp)
        broker = start_broker(root, SITE, [station, *noise])
        gateway, creds = broker.gateway, broker.devices
        port = free_port()
        config = root / "gateway.toml"
        config.write_text(tomli_w.dumps({"site": SITE, "data_dir": str(root / "gw"), "http": {"port": port},
                                         "data_key": new_data_key(root / "data.key"),
                                         "broker": {"port": broker.port, "username": gateway.username,
                                                    "password": gateway.password},
                                         # only listed devices may send (gateway/authority.py)
                                         "devices": [{"device": station, "kind": "health-station"}]
                                         + [{"device": d, "kind": "kiosk"} for d in noise]}))
        proc = subprocess.Popen([sys.executable, "-m", "onestop", "--log-level", "WARNING", "gateway", "run",
                                 "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_gateway_subscribed(f"http://127.0.0.1:{port}")
            received: dict[str, float] = {}
            arrived = threading.Condition()
            display = client(broker.port, broker.observer.username, broker.observer.password)

            def on_alert(_c: object, _u: object, msg: paho.MQTTMessage) -> None:
                import json

                with arrived:
                    received[json.loads(msg.payload)["event_id"]] = time.perf_counter()
                    arrived.notify_all()

            display.on_message = on_alert
            display.subscribe(topics.alert(SITE, "clinic"), qos=1)
            device = client(broker.port, station, creds[station].password)
            stop = threading.Event()

            def background() -> None:  # ordinary traffic, ~1,500 events/s
                pubs = {d: client(broker.port, d, creds[d].password) for d in noise}
                seq = 0
                while not stop.is_set():
                    seq += 1
                    for d, c in pubs.items():
                        c.publish(topics.event(SITE, d, "heartbeat"),
                                  new_event(d, seq, "heartbeat", {"uptime_s": seq, "outbox": 0}).to_json(), qos=1)
                    time.sleep(0.002)

            threading.Thread(target=background, daemon=True).start()
            time.sleep(1.0)
            latencies = []
            for seq in range(1, args.samples + 1):
                env = new_event(station, seq, "screening", {
                    # a student each: health alerts are one per rule and student while open
                    "subject": f"{0x92000000 + seq:08X}", "session": str(uuid.uuid4()), "complete": True,
                    "measurements": [{"code": "8480-6", "value": 190, "unit": "mm[Hg]"},
                                     {"code": "8462-4", "value": 100, "unit": "mm[Hg]"}]})
                sent = time.perf_counter()
                device.publish(topics.event(SITE, station, "screening"), env.to_json(), qos=1)
                with arrived:
                    if not arrived.wait_for(lambda env=env: env.id in received, timeout=10):
                        raise SystemExit(f"no alert for screening {seq} within 10 s")
                latencies.append((received[env.id] - sent) * 1000)
                time.sleep(0.02)
            stop.set()
            latencies.sort()
            p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
            print(f"machine: {machine()}")
            print(f"alert latency over {len(latencies)} urgent screenings with background traffic: "
                  f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms")
        finally:
            proc.terminate()
            proc.wait(30)
            broker.process.stop()


if __name__ == "__main__":
    main()
