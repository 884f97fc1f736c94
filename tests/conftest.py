"""Fixtures that start real parts: Mosquitto, the central service and the gateway, each on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.localsite import KioskPlan, LocalSite, ServiceProcess, central_process, gateway_process
from harness.netutil import free_port
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from tests.browser import browser  # noqa: F401 - one headless Chromium for the whole session, shared by all
from tests.helpers import stop_all_within

KIOSKS = [KioskPlan("kiosk-test-a", "study-24h-2f", capacity=500),
          KioskPlan("kiosk-test-b", "study-24h-2f", capacity=500),
          KioskPlan("kiosk-test-c", "skills-lab-1", capacity=500)]


@pytest.fixture
def site(tmp_path: Path) -> LocalSite:
    """A site on this machine with fresh credentials and config files (nothing running yet)."""
    plan = LocalSite(tmp_path / "site", "test-site", broker_port=free_port(), gateway_port=free_port(),
                     central_port=free_port(), kiosks=list(KIOSKS))
    plan.write()
    return plan


@pytest.fixture
def broker(site: LocalSite) -> Iterator[LocalSite]:
    """A real Mosquitto: persistence on, no anonymous access, password and ACL files per CONTRACT.md."""
    site.broker.start()
    yield site
    site.broker.stop()


@pytest.fixture
def central(site: LocalSite) -> Iterator[ServiceProcess]:
    """The central service in its own process (SQLite)."""
    proc = central_process(site)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def gateway(broker: LocalSite, central: ServiceProcess) -> Iterator[ServiceProcess]:
    """The building gateway in its own process, connected to the broker and syncing to central."""
    proc = gateway_process(broker)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def kiosk_factory(site: LocalSite) -> Iterator[Callable[[str], KioskRuntime]]:
    """Start headless kiosks of the site by device id; all are stopped at the end, 10 s for the lot (a kiosk
    that froze fails its test instead of hanging the run)."""
    started: list[KioskRuntime] = []

    def start(device: str) -> KioskRuntime:
        runtime = KioskRuntime(load_kiosk(site.path(f"kiosk-{device}.toml")))
        runtime.start()
        started.append(runtime)
        return runtime

    yield start
    stop_all_within(started, 10)
