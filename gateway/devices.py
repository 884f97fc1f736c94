"""Device health, decided without I/O: births, Wills, heartbeats, silence, sequence gaps and clock skew.

A device's state topic carries a retained birth (``online: true``) with a ``boot`` id fresh per process
start, and the Last Will (``online: false``) with the boot id of the connection it belongs to. A Will whose
boot id differs from the current birth's is late news about an old connection and is ignored, so a late
Will never marks a restarted device offline.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from onestop.payloads import DeviceState
from onestop.records import DeviceHealth


@dataclass
class DeviceStatus:
    """What the gateway knows about one device."""

    device: str
    kind: str | None = None
    fw: str | None = None
    boot: str | None = None
    online: bool = False
    last_seen: datetime | None = None
    outbox: int | None = None
    offline_since: datetime | None = None
    clock_skew_s: float | None = None

    def health(self, now: datetime, space: str | None = None) -> DeviceHealth:
        """The record synced to central and shown by the API."""
        return DeviceHealth(device=self.device, kind=self.kind, online=self.online, fw=self.fw, boot=self.boot,
                            space=space, last_seen=self.last_seen, outbox=self.outbox,
                            clock_skew_s=self.clock_skew_s, updated_at=now)


@dataclass
class DeviceBook:
    """Every device's status; methods return whether the device's online state changed.

    ``last_seq`` is each device's highest sequence number seen (restored from the store at start-up);
    ``anomalies`` counts ``seq-gaps`` (numbers skipped: events the gateway has not seen; a late arrival is
    no gap) and ``clock-implausible`` (an event stamped further than ``clock_tolerance_s`` from its receipt).
    """

    offline_after: timedelta
    devices: dict[str, DeviceStatus] = field(default_factory=dict)
    clock_tolerance_s: float = float("inf")
    last_seq: dict[str, int] = field(default_factory=dict)
    anomalies: Counter[str] = field(default_factory=Counter)

    def _get(self, device: str) -> DeviceStatus:
        status = self.devices.get(device)
        if status is None:
            status = self.devices[device] = DeviceStatus(device)
        return status

    def state_message(self, device: str, state: DeviceState, at: datetime) -> bool:
        """A birth or Will arrived on the device's state topic."""
        status = self._get(device)
        was = status.online
        if state.online:
            status.boot = state.boot
            status.kind = state.kind or status.kind
            status.fw = state.fw or status.fw
            status.online, status.offline_since = True, None
            status.last_seen = max(status.last_seen or at, at)
        elif state.boot == status.boot or status.boot is None:
            status.online = False
            status.offline_since = status.offline_since or at
        return was != status.online

    def seen(self, device: str, at: datetime, outbox: int | None = None, *, seq: int | None = None,
             sent: datetime | None = None) -> bool:
        """Any event from the device proves it alive; heartbeats also report the outbox depth. ``seq`` and
        ``sent`` (the event's sequence number and timestamp) count gaps and implausible clocks."""
        status = self._get(device)
        was = status.online
        status.last_seen = max(status.last_seen or at, at)
        if outbox is not None:
            status.outbox = outbox
        status.online, status.offline_since = True, None
        if seq is not None:
            last = self.last_seq.get(device)
            if last is None or seq > last:
                self.last_seq[device] = seq
                if last is not None and seq > last + 1:
                    self.anomalies["seq-gaps"] += seq - last - 1
        if sent is not None:
            skew = (sent - at).total_seconds()
            if abs(skew) > self.clock_tolerance_s:
                self.anomalies["clock-implausible"] += 1
                status.clock_skew_s = round(skew, 1)
        return not was

    def silent(self, now: datetime) -> list[str]:
        """Mark devices offline whose last sign of life is older than ``offline_after``; returns them."""
        gone = []
        for status in self.devices.values():
            if status.online and status.last_seen and now - status.last_seen > self.offline_after:
                status.online, status.offline_since = False, now
                gone.append(status.device)
        return gone

    def offline_for(self, device: str, now: datetime) -> timedelta | None:
        """How long a device has been offline, or ``None`` when it is online or unknown."""
        status = self.devices.get(device)
        if status is None or status.online or status.offline_since is None:
            return None
        return now - status.offline_since
