"""Fixtures: a provisioning directory made by ``init`` on free ports (``psite``; ``site`` is the whole
LocalSite of tests/conftest.py), and a real Mosquitto run from the configuration ``init`` generated (not
from a test-only configuration)."""

from __future__ import annotations

import os
import pwd
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.broker import BrokerProcess, Credentials
from harness.netutil import free_port
from provisioning.site import InitOptions, Site, init_site

SITE = "test-site"


def current_user() -> str:
    """Mosquitto started as root drops to the configured user, who must be able to read the 0600 files we
    write as ourselves: so the broker user of every test site is whoever runs the tests."""
    return pwd.getpwuid(os.geteuid()).pw_name


def free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def make_site(root: Path, site: str = SITE, **options: object) -> Site:
    """``init`` a site in ``root`` with both listeners on free loopback ports."""
    port, tls_port = free_ports(2)
    settings: dict[str, object] = {"port": port, "tls_port": tls_port, "tls_bind": "127.0.0.1",
                                   "broker_user": current_user(), **options}
    return init_site(root, InitOptions(site, **settings))  # type: ignore[arg-type]


@pytest.fixture
def psite(tmp_path: Path) -> Iterator[Site]:
    """An initialised provisioning directory (nothing running)."""
    made = make_site(tmp_path / "provision")
    yield made
    made.close()


@dataclass
class LiveSite:
    """A provisioned site with its broker running."""

    site: Site
    broker: BrokerProcess
    gateway_user: str
    gateway_password: str

    @property
    def root(self) -> Path:
        return self.site.paths.root


def gateway_credentials(site: Site) -> tuple[str, str]:
    """The gateway's MQTT user and password, from the file ``init`` wrote for it."""
    broker = tomllib.loads(site.paths.gateway_credentials.read_text())["broker"]
    return broker["username"], broker["password"]


@pytest.fixture
def start_broker() -> Iterator[Callable[[Site], LiveSite]]:
    """Start Mosquitto with ``mosquitto -c DIR/broker/mosquitto.conf`` for a site; stopped at the end."""
    running: list[BrokerProcess] = []

    def start(site: Site) -> LiveSite:
        user, password = gateway_credentials(site)
        process = BrokerProcess(site.layout, site.name, Credentials(user, password))
        process.start()  # the configuration exists, so BrokerProcess runs it as init wrote it
        running.append(process)
        return LiveSite(site, process, user, password)

    yield start
    for process in running:
        process.stop()


@pytest.fixture
def live(psite: Site, start_broker: Callable[[Site], LiveSite]) -> LiveSite:
    """The ``psite`` fixture with its broker running."""
    return start_broker(psite)
