"""``onestop bridge run``: a sensor node on a real pseudo-terminal publishes readings through a real broker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import tomli_w

from firmware_bridge.simulators import SimulatedDevice
from harness.localsite import gateway_process
from tests.helpers import query, wait_until


def test_sensor_node_publishes_readings_and_a_fault_when_the_port_vanishes(site, tmp_path):
    node = site.add_device("sensor-scale-lobby", "sensor", "study-24h-2f")
    site.broker.start()
    gateway = gateway_process(site)
    gateway.start()
    try:
        with SimulatedDevice("and-scale", seed=3) as scale:
            cfg = tmp_path / "node.toml"
            cfg.write_text(tomli_w.dumps({
                "site": site.site, "device": node.username, "data_dir": str(tmp_path / "node"),
                "broker": {"port": site.broker_port, "username": node.username, "password": node.password},
                "sensors": [{"name": "lobby-scale", "driver": "and-scale", "port": scale.path,
                             "space": "study-24h-2f"}]}))
            proc = subprocess.Popen([sys.executable, "-m", "onestop", "bridge", "run", "--config", str(cfg)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            db = site.path("gateway/gateway.db")

            def readings():
                return [json.loads(site.sealer().open(p, i.encode()))["data"] for i, p in
                        query(db, "SELECT id, payload FROM events WHERE device = ? AND type = 'reading'",
                              node.username)]

            def weigh():
                scale.measure(weight=75.5)
                return readings()

            got = wait_until(weigh, timeout=30, interval=1.0, what="a weight reading at the gateway")
            assert got[0] == {"sensor": "lobby-scale", "code": "29463-7", "value": 75.5, "unit": "kg",
                              "space": "study-24h-2f"}
            scale.unplug()
            wait_until(lambda: query(db, "SELECT count(*) FROM events WHERE device = ? AND type = 'fault'",
                                     node.username)[0][0] >= 1, timeout=30, what="a fault event")
            scale.replug()
            before = len(readings())
            wait_until(lambda: (scale.measure(weight=80.25), len(readings()) > before)[1], timeout=30,
                       interval=1.0, what="readings after the port came back")
            assert readings()[-1]["value"] == 80.25
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
            assert b"Traceback" not in proc.stderr.read()
    finally:
        gateway.stop()
        site.broker.stop()
