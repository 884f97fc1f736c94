"""Telling a running Mosquitto to re-read its password and ACL files (SIGHUP).

What Mosquitto 2.0.11 does on SIGHUP (verified by ``tests/provisioning/test_broker_live.py``): it re-reads
the configuration, password file and ACL file, then checks every connected client against them and
disconnects those whose user is gone from the password file *or whose password no longer matches the
stored hash*. So a revoked or rotated device loses its live connection within about a second, and its
reconnect attempts are refused (CONNACK 0x87 / 5 "not authorised").

The pid comes from ``--broker-pid`` or from the ``pid_file`` the generated configuration tells Mosquitto to
write. Mosquitto deletes that file on a clean exit, so "no pid file" means "no broker running": nothing to
tell, the new files are read when it starts. A pid file whose process is gone or is not Mosquitto is a
stale file: the technician is told, since the broker they think is running is not the one we can reach.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from provisioning.errors import BrokerReloadError


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What happened: ``pid`` is None when no broker was running."""

    pid: int | None
    message: str

    @property
    def signalled(self) -> bool:
        return self.pid is not None


def _read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerReloadError(f"cannot read the broker's pid file {pid_file}: {exc}") from exc
    if not text.isdigit() or int(text) <= 1:
        raise BrokerReloadError(f"the broker's pid file {pid_file} does not hold a pid: {text[:20]!r}")
    return int(text)


def _process_name(pid: int) -> str | None:
    """The process's command name on Linux (``/proc``); None where that cannot be known."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return "" if Path("/proc/self").exists() else None  # with /proc mounted, a missing entry = no process
    except OSError:
        return None


def reload_broker(pid_file: Path, broker_pid: int | None = None) -> ReloadOutcome:
    """Send SIGHUP to the broker; ``BrokerReloadError`` when a broker should be there but cannot be told."""
    source = "--broker-pid" if broker_pid is not None else str(pid_file)
    pid = broker_pid if broker_pid is not None else _read_pid(pid_file)
    if pid is None:
        return ReloadOutcome(None, f"no broker running (no {pid_file}); it reads the new files when it starts")
    name = _process_name(pid)
    if name == "":
        raise BrokerReloadError(f"broker pid {pid} (from {source}) is not running: the files are updated but no "
                                "broker was told; start it or run `systemctl reload mosquitto`")
    if name is not None and not name.startswith("mosquitto"):
        raise BrokerReloadError(f"pid {pid} (from {source}) is {name!r}, not mosquitto: stale pid file? The files "
                                "are updated; reload the broker by hand (`systemctl reload mosquitto`)")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as exc:
        raise BrokerReloadError(f"broker pid {pid} (from {source}) is not running: the files are updated but no "
                                "broker was told") from exc
    except PermissionError as exc:
        raise BrokerReloadError(f"not allowed to signal broker pid {pid}: run as root (sudo) or reload it with "
                                "`systemctl reload mosquitto`; the files are updated") from exc
    return ReloadOutcome(pid, f"broker (pid {pid}) reloaded its password and ACL files")
