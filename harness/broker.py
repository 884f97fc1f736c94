"""Run a Mosquitto broker as a child process with a generated configuration.

The demo and the test fixtures use this; a deployed building runs Mosquitto under systemd with the
configuration that ``onestop provision init`` writes (same renderer).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.netutil import wait_for_port
from harness.process import ChildProcess
from onestop.errors import OnestopError
from onestop.files import private_dir
from provisioning.mosquitto_files import (
    BrokerLayout,
    hash_password,
    render_acl,
    render_conf,
    render_passwd,
    write_private,
)


class BrokerError(OnestopError):
    """The broker could not be started."""


def mosquitto_binary() -> str:
    """Path of the ``mosquitto`` executable (Debian installs it in /usr/sbin)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
    return found


@dataclass
class Credentials:
    """A username / password pair for the broker."""

    username: str
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)


def local_layout(directory: Path, port: int) -> BrokerLayout:
    """Layout for a broker run by this process's user (as root, Mosquitto would otherwise drop to the
    ``mosquitto`` user, which cannot read our 0600 files)."""
    return BrokerLayout(directory, port, run_as=pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None)


class BrokerProcess(ChildProcess):
    """One Mosquitto process: ``start``, ``stop`` (clean), ``kill`` (SIGKILL) and ``start`` again."""

    def __init__(self, layout: BrokerLayout, site: str, gateway: Credentials,
                 devices: list[Credentials] | None = None, observers: list[Credentials] | None = None) -> None:
        self.layout = layout
        self.site = site
        self.gateway = gateway
        self.observers = [o.username for o in observers or []]
        self.users: dict[str, Credentials] = {gateway.username: gateway}
        for cred in observers or []:
            self.users[cred.username] = cred
        for cred in devices or []:
            self.users[cred.username] = cred
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self.layout.port

    def add_device(self, cred: Credentials) -> Credentials:
        """Add (or replace) a device user; call ``reload`` for a running broker to notice."""
        self.users[cred.username] = cred
        self.write_files()
        return cred

    def write_files(self) -> None:
        """(Re)write the password, ACL and configuration files."""
        private_dir(self.layout.data)  # its persistence holds messages in flight: a device's, like its outbox
        write_private(self.layout.passwd,
                      render_passwd({u: hash_password(c.password) for u, c in self.users.items()}))
        write_private(self.layout.acl, render_acl(self.site, [self.gateway.username], self.observers))
        write_private(self.layout.conf, render_conf(self.layout))

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        if self._proc and self._proc.poll() is None:
            return
        self._close()  # a broker that died: its pipe goes with it
        if not self.layout.conf.exists():
            self.write_files()
        self._proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.layout.conf)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port, self.layout.bind, timeout)
        except TimeoutError as exc:
            err = b""
            if self._proc.poll() is not None and self._proc.stderr:
                err = self._proc.stderr.read()
            self.kill()
            log_tail = self.layout.log.read_text()[-2000:] if self.layout.log.exists() else ""
            raise BrokerError(f"mosquitto did not start: {err.decode(errors='replace')} {log_tail}") from exc

    def reload(self) -> None:
        """SIGHUP: the broker re-reads its password and ACL files."""
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> None:
        """Clean stop (SIGTERM): the broker saves its persistence file."""
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._close()

    def kill(self) -> None:
        """Crash (SIGKILL): what has not been autosaved is lost, as in a power cut."""
        self._kill_now()
        self._close()

    def _close(self) -> None:
        if self._proc and self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None


    def __enter__(self) -> BrokerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
