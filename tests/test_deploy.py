"""The example configurations shipped in deploy/ load, so a technician starts from something valid."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from central.settings import load as load_central
from gateway.settings import load as load_gateway
from harness.localsite import ServiceProcess, gateway_ready
from kiosk.settings import load as load_kiosk
from provisioning import pki
from provisioning.mosquitto_files import write_private
from tests.helpers import wait_until

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_example_configurations_are_valid(tmp_path, monkeypatch):
    # The example serves HTTPS from /etc/onestop/tls; here the same files come from the site CA in tmp_path.
    ca = pki.create_ca("north-b3")
    issued = pki.issue_server(ca, "north-b3", ["gw-north-b3.campus.example"])
    write_private(tmp_path / "gateway.crt", issued.cert_pem, mode=0o644)
    write_private(tmp_path / "gateway.key", issued.key_pem)
    monkeypatch.setenv("ONESTOP_GATEWAY__HTTP__TLS_CERT", str(tmp_path / "gateway.crt"))
    monkeypatch.setenv("ONESTOP_GATEWAY__HTTP__TLS_KEY", str(tmp_path / "gateway.key"))
    gateway = load_gateway(DEPLOY / "gateway" / "gateway.example.toml")
    assert gateway.http.url == "https://0.0.0.0:8080"
    assert gateway.site == "north-b3" and {s.id for s in gateway.spaces} == {"study-24h-2f", "skills-lab-1"}
    assert load_central(DEPLOY / "central" / "central.example.toml").database_url.startswith("postgresql")
    assert load_kiosk(DEPLOY / "kiosk" / "kiosk.example.toml").device


def test_systemd_units_run_the_onestop_command():
    for unit in DEPLOY.glob("*/*.service"):
        text = unit.read_text()
        assert "ExecStart=" in text and "onestop" in text and "[Install]" in text, unit


# -- the systemd units are hardened ---------------------------------------------------------------------
UNITS = sorted(DEPLOY.glob("*/*.service"))
EVERY_UNIT = {"UMask": "0077", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "ProtectSystem": "strict",
              "ProtectHome": "yes", "PrivateTmp": "yes", "ProtectKernelTunables": "yes",
              "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
              "ProtectClock": "yes", "ProtectHostname": "yes", "RestrictNamespaces": "yes",
              "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
              "SystemCallArchitectures": "native", "ReadWritePaths": "/var/lib/onestop"}
SERVICES = ("onestop-gateway.service", "onestop-central.service")  # no devices, no executable memory
DEVICE_CLASSES = {"onestop-kiosk-headless.service": {"char-ttyUSB rw", "char-ttyACM rw", "char-input rw"},
                  "onestop-kiosk.service": {"char-drm rw", "char-tty rw", "char-ttyUSB rw", "char-input rw"}}
MAX_EXPOSURE = 3.0  # systemd-analyze: "OK" and better; the units shipped before issue 13 scored 8.5 EXPOSED


def service_section(unit: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit's [Service] section, repeated keys in order."""
    keys: dict[str, list[str]] = {}
    section = None
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    return keys


def test_every_unit_is_hardened():
    assert {u.name for u in UNITS} == set(SERVICES) | set(DEVICE_CLASSES)
    for unit in UNITS:
        keys = service_section(unit)
        for key, value in EVERY_UNIT.items():
            assert keys.get(key) == [value], (unit.name, key, keys.get(key))
        assert keys["SystemCallFilter"][0] == "@system-service", unit.name
        assert "~@privileged" in keys["SystemCallFilter"][1], unit.name
        assert set(keys["RestrictAddressFamilies"][0].split()) <= {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
        assert keys["User"] == ["onestop"], unit.name


def test_services_get_no_devices_and_no_executable_memory():
    for name in SERVICES:
        keys = service_section(DEPLOY / name.split("-")[1].split(".")[0] / name)
        assert keys["PrivateDevices"] == ["yes"] and keys["MemoryDenyWriteExecute"] == ["yes"], name
        assert keys["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"], name


def test_kiosks_keep_their_readers_and_screen_behind_a_device_list():
    # ProtectClock= implies DeviceAllow=char-rtc, which closes every device not listed: the list must be there.
    for name, needed in DEVICE_CLASSES.items():
        keys = service_section(DEPLOY / "kiosk" / name)
        assert keys["DevicePolicy"] == ["closed"] and needed <= set(keys["DeviceAllow"]), name
        assert "PrivateDevices" not in keys, name
    screen = service_section(DEPLOY / "kiosk" / "onestop-kiosk.service")
    assert "MemoryDenyWriteExecute" not in screen  # Mesa compiles shaders into writable-executable memory
    assert service_section(DEPLOY / "kiosk" / "onestop-kiosk-headless.service")["MemoryDenyWriteExecute"] == ["yes"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed "
                    "(scripts/setup dev installs the systemd package)")
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_scores_the_unit_ok(unit):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
                            capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


# PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN (1), Linux 6.3+: the kernel's MemoryDenyWriteExecute, inherited
# by every child; PR_GET_MDWE (66) confirms it.
MDWE_CHILD = """import runpy, sys, ctypes
assert ctypes.CDLL(None).prctl(66, 0, 0, 0, 0) == 1  # PR_GET_MDWE: on
sys.argv = ["onestop", *sys.argv[1:]]
runpy.run_module("onestop", run_name="__main__")
"""


def test_gateway_and_central_run_without_writable_executable_memory(site, broker):
    """What MemoryDenyWriteExecute=yes in their units does, enforced by the kernel on real processes."""
    probe = subprocess.run([sys.executable, "-c", "import ctypes; print(ctypes.CDLL(None).prctl(65, 1, 0, 0, 0))"],
                           capture_output=True, text=True, timeout=30)
    if probe.stdout.strip() != "0":
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    launcher = [sys.executable, "-c", f"import ctypes; assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0\n"
                f"exec({MDWE_CHILD!r})"]
    central = ServiceProcess("central", ["central", "run", "--config", str(site.path("central.toml"))],
                             f"{site.central_url}/healthz", site.path("logs/central.log"))
    gateway = ServiceProcess("gateway", ["gateway", "run", "--config", str(site.path("gateway.toml"))],
                             f"{site.gateway_url}/healthz", site.path("logs/gateway.log"), ready=gateway_ready)
    for proc in (central, gateway):
        proc.command = launcher
    try:
        central.start()
        gateway.start()
        clinic = {"Authorization": f"Bearer {site.tokens['clinic']}"}
        assert httpx.get(f"{site.gateway_url}/api/v1/alerts", headers=clinic).status_code == 200
        assert httpx.get(f"{central.health_url.rsplit('/', 1)[0]}/api/v1/screenings", headers=clinic).status_code \
            == 200
        wait_until(lambda: httpx.get(f"{site.gateway_url}/api/v1/sync",
                                     headers={"Authorization": f"Bearer {site.tokens['admin']}"}).json()["central"]
                   == "reachable", what="the gateway reaching central")
    finally:
        gateway.stop()
        central.stop()
