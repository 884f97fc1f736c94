"""The events the bridge produces: what a device said, in the contract's vocabulary.

Parsers return ``CardRead``, ``MeasurementRead``, ``DeviceStatus`` and ``FrameRejected``; the runtimes
(serial port, evdev) add ``PortFault`` and ``PortRestored``. All are frozen dataclasses so they can be
compared in tests and handed across threads safely.

Measurements carry LOINC codes and UCUM units (CLINICAL.md) and are always in the contract's units:
``mm[Hg]`` and ``Cel`` whatever the device sent; conversions happen in the parsers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onestop import clinical


def _quantity(code: str) -> tuple[str, str]:
    return code, clinical.UNITS[code]


# LOINC code and UCUM unit of every quantity a driver can produce (both stated in onestop/clinical.py).
SPO2 = _quantity(clinical.SPO2)
PULSE_RATE = _quantity(clinical.HEART_RATE)
SYSTOLIC = _quantity(clinical.SYSTOLIC)
DIASTOLIC = _quantity(clinical.DIASTOLIC)
BODY_TEMPERATURE = _quantity(clinical.BODY_TEMPERATURE)
BODY_WEIGHT = _quantity(clinical.BODY_WEIGHT)
BODY_HEIGHT = _quantity(clinical.BODY_HEIGHT)
BMI = _quantity(clinical.BMI)


@dataclass(frozen=True, slots=True)
class CardRead:
    """A card seen by a reader; ``card`` is the normalised id of CONTRACT.md (personal data)."""

    card: str

    def __repr__(self) -> str:
        # Card numbers are personal data: keep them out of logs that print events.
        return f"CardRead(card='…{self.card[-2:]}')"

    def to_json(self) -> dict[str, Any]:
        """The ``decode`` output object."""
        return {"kind": "card", "card": self.card}


@dataclass(frozen=True, slots=True)
class MeasurementRead:
    """One measured value with its LOINC ``code`` and UCUM ``unit``."""

    code: str
    value: float
    unit: str
    device_model: str | None = None

    @classmethod
    def of(cls, quantity: tuple[str, str], value: float, device_model: str | None) -> MeasurementRead:
        """A measurement of one of the module-level quantities (``SPO2``, ``BODY_WEIGHT``, ...)."""
        code, unit = quantity
        return cls(code=code, value=float(value), unit=unit, device_model=device_model)

    def to_json(self) -> dict[str, Any]:
        """The ``decode`` output object."""
        return {
            "kind": "measurement",
            "code": self.code,
            "value": self.value,
            "unit": self.unit,
            "device_model": self.device_model,
        }


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device state that is not a reading: ``finger-out``, ``unstable``, ``ready``, ...

    ``status`` is a short stable slug for programs; ``detail`` is for people.
    """

    status: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``decode --status`` output object."""
        return {"kind": "status", "status": self.status, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """Bytes a parser could not use; ``reason`` is a slug for counting, ``size`` the bytes involved.

    Reasons: ``garbage`` (bytes outside any frame), ``incomplete`` (a frame cut short), ``bad-checksum``,
    ``overlong``, ``malformed`` (framing right, content wrong), ``special-value`` (an IEEE-11073
    NaN/NRes/INF where a number was needed).
    """

    reason: str
    size: int


@dataclass(frozen=True, slots=True)
class PortFault:
    """The port could not be opened or stopped working (unplugged); reported once per outage."""

    port: str
    error: str


@dataclass(frozen=True, slots=True)
class PortRestored:
    """The port works again after a ``PortFault``."""

    port: str


Event = CardRead | MeasurementRead | DeviceStatus | FrameRejected
RuntimeEvent = Event | PortFault | PortRestored
