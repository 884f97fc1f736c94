"""The system tests' site: the usual three kiosks, an in-process health station, and three raw devices
(a sensor, a kiosk and a health station that are only MQTT clients), all registered with the broker and
the gateway before anything starts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop.localsite import KioskPlan, LocalSite
from onestop.netutil import free_port
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


def stop_all_within(runtimes: list[KioskRuntime], timeout: float) -> list[str]:
    """Stop runtimes side by side, ``timeout`` for all of them; returns the devices that did not stop."""
    stoppers = {r.settings.device: threading.Thread(target=r.stop, name=f"stop-{r.settings.device}", daemon=True)
                for r in runtimes}
    for stopper in stoppers.values():
        stopper.start()
    deadline = time.monotonic() + timeout
    for stopper in stoppers.values():
        stopper.join(max(0.0, deadline - time.monotonic()))
    return [device for device, stopper in stoppers.items() if stopper.is_alive()]


@pytest.fixture
def device_factory(site: LocalSite) -> Iterator[Callable[[str], KioskRuntime]]:
    """Like the suite's ``kiosk_factory`` (headless runtimes of the site by device id), but teardown is
    bounded: a device that froze — the failure some system tests look for — must fail its test, not hang
    the run, so each is given 10 s to stop and otherwise left behind."""
    started: list[KioskRuntime] = []

    def start(device: str) -> KioskRuntime:
        runtime = KioskRuntime(load_kiosk(site.path(f"kiosk-{device}.toml")))
        runtime.start()
        started.append(runtime)
        return runtime

    yield start
    stop_all_within(started, 10)
