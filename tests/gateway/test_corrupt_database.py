"""A damaged gateway database stops the real ``onestop gateway run`` with a clear message and an exit status
that systemd does not restart in a loop (``RestartPreventExitStatus=`` in the unit), never a traceback."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from gateway.ingest import Accepted
from gateway.store import Store
from onestop.events import new_event
from onestop.reporting import CORRUPT_DATA_EXIT


def a_gateway_database(path) -> None:
    store = Store(path)
    events = [new_event("kiosk-test-1", seq, "heartbeat", {"uptime_s": seq, "outbox": 0, "pad": "x" * 300})
              for seq in range(1, 2001)]
    store.write_batch([Accepted(env, env.to_json(), time.time()) for env in events], [])
    store.close()


def garbage_header(path) -> None:
    with path.open("r+b") as f:
        f.write(b"\x8f\x03 not SQLite, overwritten by something else \x00" * 2)


def truncated(path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 3)


def zero_length(path) -> None:
    path.write_bytes(b"")


def overwritten_inside(path) -> None:
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(b"\xff" * 8192)


@pytest.mark.parametrize("damage", [garbage_header, truncated, zero_length, overwritten_inside])
def test_a_damaged_database_stops_the_gateway_with_its_name_and_no_restart_loop(site, damage):
    database = site.path("gateway/gateway.db")
    a_gateway_database(database)
    damage(database)
    result = subprocess.run([sys.executable, "-m", "onestop", "gateway", "run", "--config",
                             str(site.path("gateway.toml"))], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == CORRUPT_DATA_EXIT, output
    assert str(database) in output and "Traceback" not in output
    assert "backup" in output  # what to do about it
    assert len(output.strip().splitlines()) <= 3, output


def test_every_unit_prevents_restarting_on_damaged_data():
    from tests.test_deploy import UNITS, service_section

    for unit in UNITS:
        assert str(CORRUPT_DATA_EXIT) in service_section(unit).get("RestartPreventExitStatus", [""])[0], unit.name


def run_command(*args: str) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-m", "onestop", *args], capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


def test_a_damaged_central_database_stops_central_with_its_name(site):
    database = site.path("central/central.db")
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(b"\x00garbage where a database was" * 100)
    status, output = run_command("central", "run", "--config", str(site.path("central.toml")))
    assert status == CORRUPT_DATA_EXIT and str(database) in output and "Traceback" not in output, output


def test_a_damaged_kiosk_outbox_stops_the_kiosk_with_its_name(site):
    from kiosk.settings import load

    config = site.path(f"kiosk-{site.kiosks[0].device}.toml")
    outbox = load(config).outbox_path
    outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_bytes(b"")
    with config.open("a") as toml:  # a kiosk must say it has no card reader to start without one
        toml.write('\n[reader]\ndriver = "none"\n')
    status, output = run_command("kiosk", "run", "--config", str(config), "--headless")
    assert status == CORRUPT_DATA_EXIT and str(outbox) in output and "Traceback" not in output, output
