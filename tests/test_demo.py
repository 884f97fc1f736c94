"""``onestop demo``: one command brings a building to life, prints both URLs, and stops cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.helpers import query, wait_until
from tests.receivers import Webhook, webhook


def test_demo_prints_urls_serves_simulated_events_and_stops_cleanly(tmp_path):
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "onestop", "demo", "--duration", "300", "--speed", "240",
                             "--start", "Mon 09:00", "--history-weeks", "1",
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
        links = {line.split(":", 1)[0]: line.rsplit("#token=", 1)[1].strip() for line in lines if "#token=" in line}
        assert {"building dashboard", "clinic view", "counselling view", "campus dashboard"} <= set(links)
        # Central knows the building's spaces by name and capacity, and forecasts from the seeded week.
        admin = {"Authorization": f"Bearer {links['campus dashboard']}"}
        spaces = httpx.get(f"{urls['central']}/api/v1/occupancy", headers=admin).json()
        assert {(s["name"], s["capacity"]) for s in spaces} >= {("24-hour study room", 60), ("Equipment room", 8)}
        forecast = httpx.get(f"{urls['central']}/api/v1/spaces/demo/study-24h-2f/forecast", headers=admin).json()
        assert max(hour["expected"] for hour in forecast["hours"]) > 1
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(60) == 0
        time.sleep(0.2)
        assert any("stopped cleanly" in line for line in lines)
        assert not any("Traceback" in line for line in lines)
    finally:
        if proc.poll() is None:
            proc.kill()


def kill_leftovers(data: Path) -> None:
    """After a demo that had to be killed: its services (own sessions) would outlive it; end them by pid."""
    for pid_file in (data / "run").glob("*.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def not_a_zombie(pid: int) -> bool:
    """True once ``pid`` has been reaped by its parent (or is alive and well)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state != "Z"


def outbox_books(data: Path) -> dict[str, int]:
    """Each demo device's events as its outbox counts them: how many it recorded."""
    books = {}
    for path in (data / "kiosks").glob("*.outbox.db"):
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            books[path.name.removesuffix(".outbox.db")] = db.execute("SELECT max(last_seq) FROM sequence").fetchone()[0]
    return books


@pytest.fixture
def hook() -> Iterator[Webhook]:
    """A real webhook receiver for the demo's ``--notify``."""
    with webhook() as receiver:
        yield receiver


def test_a_killed_gateway_and_broker_are_restarted_and_no_device_event_is_lost(tmp_path, hook):
    """Also carries ``--notify`` (a demo run is too slow for a test of its own): every alert the demo's gateway
    raises for the notified teams, across its restart, reaches the webhook."""
    data = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    notify = [arg for team in ("clinic", "counselling", "facilities", "technicians")
              for arg in ("--notify", f"{team}={hook.url}")]
    proc = subprocess.Popen([sys.executable, "-m", "onestop", "demo", "--duration", "60", "--speed", "240",
                             "--data-dir", str(data), *notify], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    output = lambda: "".join(lines)  # noqa: E731
    try:
        gateway_url = wait_until(lambda: next((line.split(": ", 1)[1].strip() for line in lines
                                               if line.startswith("gateway: http")), None), 90, what="the gateway URL")
        wait_until(lambda: httpx.get(f"{gateway_url}/api/v1/stats").json()["events"] > 10, 60, interval=1.0,
                   what="events at the gateway")
        for service in ("gateway", "broker"):
            pid_file = data / "run" / f"{service}.pid"
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda pid_file=pid_file, pid=pid: int(pid_file.read_text()) != pid, 40,
                       what=f"the {service} restarted")
            assert f"{service} died (SIGKILL) — restarted" in output()
            wait_until(lambda pid=pid: not_a_zombie(pid), 5, what=f"the killed {service} reaped")
            wait_until(lambda: httpx.get(f"{gateway_url}/healthz").json().get("broker") is True, 40, interval=0.5,
                       what="the gateway answering and connected to the broker again")
        assert proc.wait(150) == 0, output()
        assert "0 events lost" in output(), output()
        recorded = outbox_books(data)
        with contextlib.closing(sqlite3.connect(data / "gateway" / "gateway.db")) as db:
            stored = dict(db.execute("SELECT device, count(*) FROM events GROUP BY device").fetchall())
        assert recorded and all(stored.get(device) == count for device, count in recorded.items()), (recorded, stored)
        assert "Traceback" not in output()
        ended = time.time()
        with contextlib.closing(sqlite3.connect(data / "gateway" / "gateway.db")) as db:
            raised = db.execute("SELECT id, raised_at FROM alerts a WHERE NOT EXISTS (SELECT 1 FROM notify_attempts "
                                "WHERE alert_id = a.id AND outcome = 'skipped')").fetchall()  # resolved first
            tries = db.execute("SELECT outcome, count(*) FROM notify_attempts GROUP BY 1").fetchall()
        delivered = " ".join(body["message"] for body in hook.bodies)
        settled = [alert for alert, at in raised if datetime.fromisoformat(at).timestamp() < ended - 10]
        assert all(alert in delivered for alert in settled), (settled, delivered)
        assert dict(tries).get("failed", 0) == 0, tries
        assert all(f"{team} alerts -> json://" in output() for team in ("clinic", "counselling"))
        edge_files_hold_nothing_personal(data)
    finally:
        if proc.poll() is None:
            proc.kill()
            kill_leftovers(data)


# Not an edge device's: central (a campus server), the keys (the devices' configuration directories) and the
# harness's own pid files.
NOT_EDGE = ("central", "central-keys", "keys", "run")


def edge_files_hold_nothing_personal(data: Path) -> None:
    """After the demo, every file the edge devices wrote: no card, vital or answer in clear (the cards the
    demo used are read back from the gateway with its key), and none readable by group or others (#16)."""
    from sealing import load

    sealer = load(data / "keys" / "demo-gateway.data.key")
    payloads = [sealer.open(p, i.encode()) for i, p in query(data / "gateway" / "gateway.db",
                                                            "SELECT id, payload FROM events")]
    cards = {json.loads(p)["data"].get("card") or json.loads(p)["data"].get("subject") for p in payloads}
    cards.discard(None)
    assert len(cards) > 5, cards
    marks = {c.encode() for c in cards} | {b'"card"', b'"subject"', b'"answers"', b"8480-6", b"59408-5"}
    files = [p for p in data.rglob("*") if p.relative_to(data).parts[0] not in NOT_EDGE]
    assert any(p.name.endswith("outbox.db") for p in files) and any(p.name == "gateway.db" for p in files)
    clear = {str(p.relative_to(data)): sorted(m.decode() for m in marks if m in p.read_bytes())
             for p in files if p.is_file()}
    assert not {k: v for k, v in clear.items() if v}, "personal data in clear on an edge device"
    open_to_others = {str(p.relative_to(data)): oct(p.stat().st_mode & 0o777) for p in files
                      if p.stat().st_mode & 0o077}
    assert not open_to_others, "edge files readable by group or others"


def test_the_demo_with_its_kiosk_window_stops_after_its_duration(tmp_path):
    env = {**os.environ, "COLUMNS": "120", "SDL_VIDEODRIVER": os.environ.get("SDL_VIDEODRIVER", "offscreen"),
           "KIVY_NO_ARGS": "1", "KIVY_HOME": str(tmp_path / "kivy-home"), "KIVY_NO_CONSOLELOG": "1",
           "KIVY_NO_FILELOG": "1"}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "onestop", "demo", "--ui", "--duration", "20", "--speed", "240",
                             "--data-dir", str(tmp_path / "demo")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        kill_leftovers(tmp_path / "demo")
        raise AssertionError("the demo with --ui did not stop after its --duration") from None
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "stopped cleanly" in out and "Traceback" not in out + err
    assert time.monotonic() - started < 100
