"""The example configurations shipped in deploy/ load, so a technician starts from something valid."""

from pathlib import Path

from central.settings import load as load_central
from gateway.settings import load as load_gateway
from kiosk.settings import load as load_kiosk

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_example_configurations_are_valid():
    gateway = load_gateway(DEPLOY / "gateway" / "gateway.example.toml")
    assert gateway.site == "north-b3" and {s.id for s in gateway.spaces} == {"study-24h-2f", "skills-lab-1"}
    assert load_central(DEPLOY / "central" / "central.example.toml").database_url.startswith("postgresql")
    assert load_kiosk(DEPLOY / "kiosk" / "kiosk.example.toml").device


def test_systemd_units_run_the_onestop_command():
    for unit in DEPLOY.glob("*/*.service"):
        text = unit.read_text()
        assert "ExecStart=" in text and "onestop" in text and "[Install]" in text, unit
