"""A whole building on one machine: broker, central, gateway and kiosks, configured with fresh credentials.

The demo and the test fixtures build their sites with this, so both run the same code paths as a
deployment: real Mosquitto with passwords and ACL, real services in their own processes, real config files.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import tomli_w

from harness.broker import BrokerProcess, Credentials, local_layout
from harness.process import ChildProcess
from onestop.errors import OnestopError
from onestop.files import private_dir, private_file
from onestop.roles import Role, new_token
from provisioning.mosquitto_files import write_private
from sealing import Sealer, create_key_file
from sealing import load as load_data_key


class ServiceError(OnestopError):
    """A service process did not come up."""


@dataclass
class KioskPlan:
    """One simulated kiosk of the site."""

    device: str
    space: str
    capacity: int | None = None
    mode: str = "kiosk"
    direction: str | None = None  # in / out / toggle, told by the gateway's cfg; None = the kiosk's default
    reader: dict[str, object] | None = None          # [reader] section: driver and serial port
    health_devices: list[dict[str, object]] = field(default_factory=list)  # [[health.devices]]


@dataclass
class LocalSite:
    """Paths, ports and credentials of a one-machine site; ``write`` puts every config file on disk."""

    root: Path
    site: str
    broker_port: int
    gateway_port: int
    central_port: int
    kiosks: list[KioskPlan] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)  # role -> bearer token
    other_devices: list[dict[str, str]] = field(default_factory=list)  # non-kiosk device entries
    spaces: list[dict[str, object]] | None = None  # explicit [[spaces]]; default: one per kiosk space
    gateway_extra: dict[str, object] = field(default_factory=dict)  # more gateway.toml sections
    central_link_port: int | None = None  # the gateway reaches central through this port (a WAN link)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.gateway_user = Credentials(f"{self.site}-gateway")
        # Read-only on the site tree: what tests, benchmarks and monitoring watch the broker with. Nobody else
        # connects as the gateway: with client ids tied to user names, that would take over its session.
        self.observer = Credentials(f"{self.site}-observer")
        self.device_users = {k.device: Credentials(k.device) for k in self.kiosks}
        self.broker = BrokerProcess(local_layout(self.root / "broker", self.broker_port), self.site,
                                    self.gateway_user, list(self.device_users.values()), [self.observer])
        self._entries = []
        for role in Role:
            # The gateway's token is bound to its site, as `onestop provision gateway register` binds it.
            token, entry = new_token(f"local-{role.value}", role,
                                     site=self.site if role is Role.GATEWAY else None)
            self.tokens[role.value] = token
            self._entries.append(entry.model_dump(mode="json", exclude_none=True))

    def add_device(self, device: str, kind: str = "sensor", space: str | None = None) -> Credentials:
        """Register another device (credentials, gateway device list) and rewrite the files."""
        cred = self.broker.add_device(Credentials(device))
        self.device_users[device] = cred
        self.other_devices.append({"device": device, "kind": kind, **({"space": space} if space else {})})
        self.write()
        return cred

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def central_url(self) -> str:
        return f"http://127.0.0.1:{self.central_port}"

    def path(self, name: str) -> Path:
        return self.root / name

    def broker_section(self, cred: Credentials) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.broker_port, "username": cred.username,
                "password": cred.password}

    def site_config(self) -> dict[str, object]:
        """The building's spaces and devices (a ``SiteConfig``): what the gateway is configured with, and what
        an administrator stores at central (central knows a site's spaces only from it)."""
        spaces: dict[str, dict[str, object]] = {}
        for kiosk in self.kiosks:
            spaces.setdefault(kiosk.space, {"id": kiosk.space, "name": kiosk.space.replace("-", " ").title(),
                                            "capacity": kiosk.capacity or 100})
        return {"spaces": self.spaces if self.spaces is not None else list(spaces.values()),
                "devices": [{"device": k.device, "kind": k.mode, "space": k.space,
                             **({"direction": k.direction} if k.direction else {})} for k in self.kiosks]
                + self.other_devices}

    def data_key(self, device: str) -> Path:
        """``device``'s data key, made once, in ``keys/`` (the configuration directory, not its data's)."""
        path = self.root / "keys" / f"{device}.data.key"
        if not path.exists():
            private_dir(path.parent)
            create_key_file(path)
        return path

    def sealer(self, device: str | None = None) -> Sealer:
        """What opens the fields ``device`` (default: the gateway) sealed at rest, for a test to read them."""
        return load_data_key(self.data_key(device or self.gateway_user.username))

    def write(self) -> None:
        """Write broker files and every component's TOML (secret-bearing files are mode 0600)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.broker.write_files()
        central = {"database_url": f"sqlite:///{self.root / 'central' / 'central.db'}",
                   "pseudonym_key_file": str(self.root / "central-keys" / "pseudonym.key"),
                   "http": {"host": "127.0.0.1", "port": self.central_port}, "tokens": self._entries}
        central_url = f"http://127.0.0.1:{self.central_link_port}" if self.central_link_port else self.central_url
        gateway = {"site": self.site, "data_dir": str(self.root / "gateway"),
                   "data_key": str(self.data_key(self.gateway_user.username)), **self.site_config(),
                   "broker": self.broker_section(self.gateway_user),
                   "http": {"host": "127.0.0.1", "port": self.gateway_port},
                   "central": {"url": central_url, "token": self.tokens["gateway"]},
                   "tokens": self._entries, **self.gateway_extra}
        write_private(self.path("central.toml"), tomli_w.dumps(central))
        write_private(self.path("gateway.toml"), tomli_w.dumps(gateway))
        for kiosk in self.kiosks:
            cfg: dict[str, object] = {"site": self.site, "device": kiosk.device, "mode": kiosk.mode,
                                      "space": kiosk.space, "data_dir": str(self.root / "kiosks"),
                                      "data_key": str(self.data_key(kiosk.device)),
                                      "broker": self.broker_section(self.device_users[kiosk.device])}
            if kiosk.capacity is not None:
                cfg["capacity"] = kiosk.capacity
            if kiosk.reader:
                cfg["reader"] = kiosk.reader
            if kiosk.health_devices:
                cfg["health"] = {"devices": kiosk.health_devices}
            write_private(self.path(f"kiosk-{kiosk.device}.toml"), tomli_w.dumps(cfg))


class ServiceProcess(ChildProcess):
    """A component started as ``python -m onestop ...`` in its own process, ready when /healthz answers."""

    def __init__(self, name: str, args: list[str], health_url: str, log_path: Path,
                 env: dict[str, str] | None = None, ready: Callable[[dict], bool] = lambda _body: True,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.name = name
        self.verify = verify  # an HTTPS service's CA
        self.command = [sys.executable, "-m", "onestop"]  # what runs ``args`` (a test may wrap it)
        self.args = args
        self.health_url = health_url
        self.ready = ready
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until healthy."""
        private_dir(self.log_path.parent)  # a service's log is the device's too: 0600 in 0700 (issue #16)
        private_file(self.log_path)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen([*self.command, *self.args], stdout=log,
                                      stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self._proc.returncode}; see {self.log_path}")
            try:
                response = httpx.get(self.health_url, timeout=1, verify=self.verify)
                if response.status_code == 200 and self.ready(response.json()):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        self.kill()
        raise ServiceError(f"{self.name} not healthy after {timeout:.0f}s; see {self.log_path}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL if it hangs); returns the exit status."""
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return self._proc.returncode if self._proc else None

    def kill(self) -> None:
        """SIGKILL: a crash, as in a power cut."""
        self._kill_now()



def central_process(site: LocalSite) -> ServiceProcess:
    """The central service of ``site`` as a process."""
    return ServiceProcess("central", ["central", "run", "--config", str(site.path("central.toml"))],
                          f"{site.central_url}/healthz", site.path("logs/central.log"))


def gateway_process(site: LocalSite) -> ServiceProcess:
    """The gateway of ``site`` as a process."""
    return ServiceProcess("gateway", ["gateway", "run", "--config", str(site.path("gateway.toml"))],
                          f"{site.gateway_url}/healthz", site.path("logs/gateway.log"), ready=gateway_ready)


def gateway_ready(health: dict) -> bool:
    """A gateway is ready once the broker has acknowledged its subscriptions: its very first subscription
    must exist before devices publish, or the broker has no session to queue their events in."""
    return health.get("broker") is True
