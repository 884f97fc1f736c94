"""Finding and signalling the broker: the failure cases (the success case runs in test_broker_live.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from provisioning.broker_reload import reload_broker
from provisioning.errors import BrokerReloadError


def test_no_pid_file_means_no_broker_running(tmp_path):
    outcome = reload_broker(tmp_path / "mosquitto.pid")
    assert not outcome.signalled and "no broker running" in outcome.message


def test_a_stale_pid_file_is_reported(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a pid that existed and is gone
    (tmp_path / "mosquitto.pid").write_text(f"{proc.pid}\n")
    with pytest.raises(BrokerReloadError, match="not running.*files are updated"):
        reload_broker(tmp_path / "mosquitto.pid")


def test_a_pid_that_is_not_mosquitto_is_not_signalled(tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "mosquitto.pid").write_text(str(sleeper.pid))
        with pytest.raises(BrokerReloadError, match="is '[a-z0-9]+', not mosquitto"):
            reload_broker(tmp_path / "mosquitto.pid")
        with pytest.raises(BrokerReloadError, match="not mosquitto"):
            reload_broker(tmp_path / "absent.pid", broker_pid=sleeper.pid)
        assert sleeper.poll() is None  # SIGHUP would have ended it
    finally:
        sleeper.kill()
        sleeper.wait()


def test_garbage_in_the_pid_file_is_reported(tmp_path):
    (tmp_path / "mosquitto.pid").write_text("mosquitto\n")
    with pytest.raises(BrokerReloadError, match="does not hold a pid"):
        reload_broker(tmp_path / "mosquitto.pid")
