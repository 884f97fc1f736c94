"""The system tests' site: the usual three kiosks, an in-process health station, and three raw devices
(a sensor, a kiosk and a health station that are only MQTT clients), all registered with the broker and
the gateway before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.localsite import KioskPlan, LocalSite
from harness.netutil import free_port
from tests.conftest import KIOSKS
from tests.system.rig import HEALTH_STATION, RAW_DEVICES

SYSTEM_DEVICES = [*KIOSKS, KioskPlan(HEALTH_STATION, "skills-lab-1", mode="health-station")]


def make_site(root: Path) -> LocalSite:
    """The system tests' building under ``root``, every file written, nothing running."""
    plan = LocalSite(root, "test-site", broker_port=free_port(), gateway_port=free_port(),
                     central_port=free_port(), kiosks=list(SYSTEM_DEVICES))
    plan.write()
    for device, kind, space in RAW_DEVICES:
        plan.add_device(device, kind, space)
    return plan


@pytest.fixture
def site(tmp_path: Path) -> LocalSite:
    """Overrides the suite's ``site``: the same building plus a health station and raw devices."""
    return make_site(tmp_path / "site")


