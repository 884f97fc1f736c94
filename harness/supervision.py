"""Keeping the demo's services alive: a process that dies is reaped, reported and started again.

Someone watching the demo kills the gateway (``kill -9 $(cat DIR/run/gateway.pid)``) to see what happens.
The supervisor notices within half a second, reaps the process (no zombie), says what ended it ("gateway
died (SIGKILL)") and starts it again. Nothing is lost meanwhile, and the demo's summary shows it: devices
keep their events in their outboxes until the broker acknowledges them, and the broker keeps the gateway's
persistent session queued until the gateway is back.

A restart that fails is retried with a growing pause (1 s doubling to 30 s), reported once per attempt.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from onestop.backoff import retry_delay
from onestop.errors import OnestopError
from onestop.files import write_private

log = logging.getLogger(__name__)

RETRY_MIN_S, RETRY_MAX_S = 1.0, 30.0


class Supervised(Protocol):
    """A child process the supervisor can watch and start again (``ServiceProcess``, ``BrokerProcess``)."""

    @property
    def returncode(self) -> int | None: ...

    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...


def exit_cause(returncode: int) -> str:
    """What ended a process: ``SIGKILL`` for a signal, ``exit status 3`` otherwise."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


@dataclass(frozen=True, slots=True)
class Incident:
    """One death of a supervised process and what the supervisor did about it."""

    service: str
    cause: str
    restarted: bool
    at: float  # wall-clock time, for the summary
    detail: str = ""

    def __str__(self) -> str:
        outcome = "restarted" if self.restarted else f"restart failed ({self.detail}); retrying"
        return f"{self.service} died ({self.cause}) — {outcome}"


class Supervisor:
    """Watches named processes from one thread; ``on_incident`` hears of every death and restart."""

    def __init__(self, services: dict[str, Supervised], pid_dir: Path,
                 on_incident: Callable[[Incident], None], interval_s: float = 0.5) -> None:
        self.services = services
        self.pid_dir = pid_dir
        self.on_incident = on_incident
        self.interval_s = interval_s
        self.incidents: list[Incident] = []
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Write every service's pid file and start watching (the services must be running already)."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        for name in self.services:
            self._write_pid(name)
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching: call before stopping the services, or their clean exits count as deaths."""
        self._stopping.set()
        if self._thread:
            self._thread.join(60)  # a restart under way finishes first (ServiceProcess waits up to 30 s)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self.check()

    def check(self, now: float | None = None) -> list[Incident]:
        """One pass: reap and restart whatever has ended; returns what happened."""
        happened = []
        for name, service in self.services.items():
            code = service.returncode
            if code is None or self._stopping.is_set():
                continue
            clock = time.monotonic() if now is None else now
            if clock < self._retry_at.get(name, 0.0):
                continue
            incident = self._restart(name, service, exit_cause(code))
            happened.append(incident)
            self.incidents.append(incident)
            self.on_incident(incident)
        return happened

    def _restart(self, name: str, service: Supervised, cause: str) -> Incident:
        log.info("%s died (%s); restarting", name, cause)  # the caller reports the incident
        try:
            service.start()
        except (OnestopError, OSError) as exc:
            failures = self._failures[name] = self._failures.get(name, 0) + 1
            self._retry_at[name] = time.monotonic() + retry_delay(failures - 1, base=RETRY_MIN_S, cap=RETRY_MAX_S)
            log.info("%s could not be restarted: %s", name, exc)
            return Incident(name, cause, False, time.time(), str(exc)[:200])
        self._failures.pop(name, None)
        self._retry_at.pop(name, None)
        self._write_pid(name)
        return Incident(name, cause, True, time.time())

    def _write_pid(self, name: str) -> None:
        pid = self.services[name].pid
        if pid is not None:
            # Replaced whole: a reader (``kill $(cat ...)``, a test) never sees it empty mid-write.
            write_private(self.pid_dir / f"{name}.pid", f"{pid}\n".encode())
