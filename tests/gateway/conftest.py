from collections.abc import Iterator

import pytest

from harness.localsite import LocalSite, ServiceProcess, gateway_process

STATION = "hs-test-station"


@pytest.fixture
def station(site: LocalSite) -> str:
    """A health station of the site (only health stations may send screenings); ask for it before the
    broker or gateway so that both know it."""
    site.add_device(STATION, "health-station", "skills-lab-1")
    return STATION


@pytest.fixture
def lone_gateway(broker: LocalSite) -> Iterator[ServiceProcess]:
    """The gateway with its broker but no central service (the WAN is down)."""
    proc = gateway_process(broker)
    proc.start()
    yield proc
    proc.stop()
