"""``onestop kiosk run --headless`` as a real process: what it says about its card reader and its broker."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import tomli_w

from harness.netutil import free_port
from tests.helpers import data_key


def write_config(tmp_path: Path, broker_port: int, **extra: object) -> Path:
    config = tmp_path / "kiosk.toml"
    config.write_text(tomli_w.dumps({"site": "test-site", "device": "kiosk-b3-lobby", "space": "study-24h-2f",
                                     "data_dir": str(tmp_path / "data"), "data_key": data_key(tmp_path / "data"),
                                     "broker": {"host": "127.0.0.1", "port": broker_port, "username": "kiosk-b3-lobby",
                                                "password": "not-used"}, **extra}))
    return config


def kiosk(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "onestop", "kiosk", "run", "--headless", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_kiosk_without_a_card_reader_that_does_not_say_so_is_refused(tmp_path):
    proc = kiosk(write_config(tmp_path, free_port()))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "no card reader configured" in err and 'driver = "none"' in err and "kiosk.toml" in err
    assert "Traceback" not in err


def test_a_kiosk_says_once_that_its_reader_is_missing_and_where_it_cannot_reach_its_broker(tmp_path):
    port = free_port()  # nothing listens there
    missing = tmp_path / "ttyUSB-unplugged"
    proc = kiosk(write_config(tmp_path, port, reader={"driver": "em4100", "port": str(missing)}))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("cannot reach the broker" in line for line in lines):
        assert proc.poll() is None, "".join(lines)
        time.sleep(0.1)
    time.sleep(4)  # paho retries after 1, 2 and 4 s: each retry fails again, none may add a line
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    reader.join(5)
    told = [line for line in lines if "cannot reach the broker" in line]
    assert len(told) == 1, "".join(lines)
    assert f"127.0.0.1:{port}" in told[0] and "kiosk-b3-lobby" in told[0]
    reader = [line for line in lines if "card-reader not working" in line]
    assert len(reader) == 1 and str(missing) in reader[0], "".join(lines)
    assert "Traceback" not in "".join(lines)
