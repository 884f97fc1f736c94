"""Pulse-oximeter packets to events: how often a 60-per-second stream becomes a reading.

A Contec oximeter sends about 60 packets a second with the same SpO2 and pulse most of the time. Passing
each on would flood the kiosk and the decode output, so ``OximetryThrottle`` emits:
- a reading (SpO2 then pulse, two ``MeasurementRead``) whenever the pair differs from the last emitted
  state, and again every ``repeat_every`` packets while it stays the same (default 60, about once a
  second) so a consumer can tell a steady reading from a stale one; ``repeat_every=0`` means only on change;
- a ``DeviceStatus`` (``finger-out``, ``probe-error``, ``searching``, ``no-reading``) only when it changes.

So every distinct reading appears in stream order, and nothing else is lost but exact repeats.
"""

from __future__ import annotations

from firmware_bridge.readings import PULSE_RATE, SPO2, DeviceStatus, Event, MeasurementRead

DEFAULT_REPEAT_EVERY = 60


def status_of(*, finger_out: bool, probe_error: bool, searching: bool, spo2: int, pulse: int) -> str | None:
    """Why a packet carries no valid reading, or None when SpO2 and pulse can be trusted."""
    if probe_error:
        return "probe-error"
    if finger_out:
        return "finger-out"
    if searching:
        return "searching"
    # The Contec devices send 127 (SpO2) and 255 (pulse) as "no value"; zero is never a real reading.
    if not 1 <= spo2 <= 100 or not 1 <= pulse <= 254:
        return "no-reading"
    return None


class OximetryThrottle:
    """Turns one decision per packet into events (see the module docstring)."""

    def __init__(self, device_model: str | None, repeat_every: int = DEFAULT_REPEAT_EVERY) -> None:
        self._device_model = device_model
        self._repeat_every = repeat_every
        self._last: tuple[object, ...] | None = None
        self._since = 0

    def packet(self, spo2: int, pulse: int, status: str | None, detail: str = "") -> list[Event]:
        """The events for one packet: a reading, a status, or nothing when it repeats the last one."""
        state: tuple[object, ...] = ("status", status) if status else ("reading", spo2, pulse)
        if state == self._last:
            self._since += 1
            if status or not self._repeat_every or self._since < self._repeat_every:
                return []
        self._last = state
        self._since = 0
        if status:
            return [DeviceStatus(status, detail)]
        return [
            MeasurementRead.of(SPO2, spo2, self._device_model),
            MeasurementRead.of(PULSE_RATE, pulse, self._device_model),
        ]
