"""Chain of custody from the card reader: taps made while the broker is down, and a kiosk killed with
SIGKILL right after its feedback, still reach the gateway exactly once (real Mosquitto, gateway, central)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

from firmware_bridge.simulators import SimulatedDevice
from harness.localsite import LocalSite, central_process, gateway_process
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from tests.helpers import gateway_events, wait_until

pytestmark = pytest.mark.slow
DEVICE = "kiosk-test-a"
CARDS = ["62E3086CED", "0A1B2C3D4E", "1122334455"]


@pytest.fixture
def reader():
    device = SimulatedDevice("em4100", seed=3)
    yield device
    device.close()


def kiosk_config(site: LocalSite, reader: SimulatedDevice) -> Path:
    """The site's kiosk configuration with the simulated reader as its card reader."""
    path = site.path(f"kiosk-{DEVICE}.toml")
    config = tomllib.loads(path.read_text())
    config["reader"] = {"driver": "em4100", "port": reader.path}
    config["heartbeat_s"] = 60
    path.write_text(tomli_w.dumps(config))
    return path


def taps_at_gateway(site: LocalSite) -> list[tuple[str, int, str]]:
    rows = gateway_events(site, "SELECT id, type, seq, payload FROM events WHERE device = ? "
                                "AND type IN ('checkin', 'checkout') ORDER BY seq", DEVICE)
    return [(kind, seq, event["data"]["card"]) for kind, seq, event in rows]


def holds_open(pid: int, tty_link: str) -> bool:
    """True when process ``pid`` has the pty behind ``tty_link`` open (the reader is listening)."""
    target = os.path.realpath(tty_link)
    try:
        return any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return False


def test_taps_at_the_reader_while_the_broker_is_down_arrive_once_it_returns(site, gateway, reader):
    runtime = KioskRuntime(load_kiosk(kiosk_config(site, reader)))
    runtime.start()
    try:
        wait_until(lambda: runtime.link.connected and runtime.devices.readers[0].connected, what="kiosk ready")
        site.broker.stop()
        wait_until(lambda: not runtime.link.connected, what="kiosk notices the broker is gone")
        for card in CARDS:
            reader.tap(card)
        wait_until(lambda: len(runtime.controller.inside) == 3, what="three check-ins, offline")
        assert runtime.outbox.depth() >= 3
        site.broker.start()
        wait_until(lambda: len(taps_at_gateway(site)) >= 3, timeout=60, what="offline taps at the gateway")
        wait_until(lambda: runtime.outbox.depth() == 0, what="outbox drained")
    finally:
        runtime.stop()
    assert taps_at_gateway(site) == [("checkin", seq, card) for seq, card in zip((1, 2, 3), CARDS, strict=True)]


def test_taps_made_before_the_buildings_gateway_ever_ran_reach_it_when_it_first_starts(site, broker, reader):
    runtime = KioskRuntime(load_kiosk(kiosk_config(site, reader)))
    runtime.start()
    try:
        wait_until(lambda: runtime.link.connected and runtime.devices.readers[0].connected, what="kiosk ready")
        for card in CARDS[:2]:
            reader.tap(card)
        wait_until(lambda: len(runtime.controller.inside) == 2, what="two check-ins")
        time.sleep(1.0)  # long enough for the broker to have acknowledged them, had they been sent
        # No gateway has ever subscribed: a broker would acknowledge these and drop them for want of a subscriber.
        assert runtime.outbox.depth() == 2
        central, gateway = central_process(site), gateway_process(site)
        central.start()
        gateway.start()
        try:
            wait_until(lambda: len(taps_at_gateway(site)) >= 2, timeout=60, what="the waiting taps at the gateway")
            wait_until(lambda: runtime.outbox.depth() == 0, what="outbox drained")
        finally:
            gateway.stop()
            central.stop()
    finally:
        runtime.stop()
    assert taps_at_gateway(site) == [("checkin", 1, CARDS[0]), ("checkin", 2, CARDS[1])]


def start_kiosk(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "onestop", "kiosk", "run", "--headless", "--config",
                                 str(config)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def test_a_kiosk_killed_right_after_its_feedback_still_delivers_the_event(site, gateway, reader):
    config, log = kiosk_config(site, reader), site.path("logs/kiosk.log")
    site.broker.stop()  # so the event cannot have left before the kill: only the outbox can save it
    kiosk = start_kiosk(config, log)
    try:
        wait_until(lambda: holds_open(kiosk.pid, reader.path), timeout=30, what="kiosk reading its card reader")
        reader.tap(CARDS[0])
        wait_until(lambda: f"tap at {DEVICE}: welcome" in log.read_text(), what="welcome feedback")
        kiosk.send_signal(signal.SIGKILL)
        kiosk.wait(10)
        assert CARDS[0] not in log.read_text()  # the card number is never logged
        site.broker.start()
        kiosk = start_kiosk(config, log)
        wait_until(lambda: taps_at_gateway(site), timeout=60, what="the event of the killed kiosk")
        wait_until(lambda: holds_open(kiosk.pid, reader.path), timeout=30, what="restarted kiosk reading")
        reader.tap(CARDS[0])  # the restarted kiosk remembers the student is inside
        wait_until(lambda: len(taps_at_gateway(site)) >= 2, timeout=30, what="the checkout")
    finally:
        if kiosk.poll() is None:
            kiosk.send_signal(signal.SIGTERM)
            kiosk.wait(15)
    assert taps_at_gateway(site) == [("checkin", 1, CARDS[0]), ("checkout", 2, CARDS[0])]
    assert kiosk.returncode == 0
