from collections.abc import Iterator

import pytest

from onestop.localsite import LocalSite, ServiceProcess, gateway_process


@pytest.fixture
def lone_gateway(broker: LocalSite) -> Iterator[ServiceProcess]:
    """The gateway with its broker but no central service (the WAN is down)."""
    proc = gateway_process(broker)
    proc.start()
    yield proc
    proc.stop()
