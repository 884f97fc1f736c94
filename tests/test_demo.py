"""``onestop demo``: one command brings a building to life, prints both URLs, and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from tests.helpers import query, wait_until


def test_demo_prints_urls_serves_simulated_events_and_stops_cleanly(tmp_path):
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "onestop", "demo", "--duration", "300", "--speed", "240",
                             "--data-dir", str(tmp_path / "demo")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        urls = wait_until(lambda: {k: v for k, v in (line.strip().split(": ", 1) for line in lines
                                                    if line.startswith(("gateway: http", "central: http")))}
                          if sum(line.startswith(("gateway: http", "central: http")) for line in lines) == 2
                          else None, timeout=90, what="both URLs printed")
        assert set(urls) == {"gateway", "central"}

        def both_have_events():
            gateway = httpx.get(f"{urls['gateway']}/api/v1/stats").json()
            central = httpx.get(f"{urls['central']}/api/v1/stats").json()
            return gateway["events"] > 20 and central["events"] > 20

        wait_until(both_have_events, timeout=120, interval=1.0, what="simulated events at gateway and central")

        def study_room_taps():  # the study room's door: an entrance kiosk and an exit kiosk
            rows = set(query(tmp_path / "demo" / "gateway" / "gateway.db",
                             "SELECT device, type FROM events WHERE device LIKE 'kiosk-demo-study-%' "
                             "AND type IN ('checkin', 'checkout')"))
            return rows if ("kiosk-demo-study-b", "checkout") in rows else None

        taps = wait_until(study_room_taps, timeout=120, interval=1.0, what="a student leaving by the exit kiosk")
        assert taps == {("kiosk-demo-study-a", "checkin"), ("kiosk-demo-study-b", "checkout")}
        dashboard = next(line for line in lines if line.startswith("building dashboard:"))
        assert "#token=" in dashboard
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(60) == 0
        time.sleep(0.2)
        assert any("stopped cleanly" in line for line in lines)
        assert not any("Traceback" in line for line in lines)
    finally:
        if proc.poll() is None:
            proc.kill()
