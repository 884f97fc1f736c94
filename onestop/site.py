"""A building's configuration: spaces, opening hours, devices, reservations, work-order routing.

The same model is the gateway's local ``[[spaces]]`` / ``[[devices]]`` configuration and the downlink the
gateway pulls from central (``GET /api/v1/gateways/{site}/config``, role ``gateway``), which it keeps as its
last good copy for offline use.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from onestop.events import Card, Slug
from onestop.ids import DEVICE_PATTERN, SLUG_PATTERN
from onestop.payloads import DeviceKind
from onestop.settings import Section
from onestop.work_orders import WorkOrderSettings

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# A wall-clock time of day, "HH:MM" or "HH:MM:SS" (JSON Schema's "time" format would demand a UTC offset).
LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
LocalTime = Annotated[time, WithJsonSchema({"type": "string", "pattern": LOCAL_TIME_PATTERN})]


class OpeningHours(Section):
    """When a space is open (local time of the building). ``open == close`` means open all day.

    Times are wall-clock times in the building's time zone (the gateway's and central's ``timezone``
    setting). A time with a UTC offset (``07:00+08:00``) is refused: Python cannot compare it with a local
    time (the gateway's ticker raised ``TypeError`` every second), and an offset would be wrong half the year
    wherever clocks change.
    """

    open: LocalTime = Field(time(0, 0), description="opening time, HH:MM (local, no UTC offset)")
    close: LocalTime = Field(time(0, 0), description="closing time, HH:MM (local, no UTC offset); 00:00 = midnight")
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS), description="days the space opens")

    @field_validator("open", "close")
    @classmethod
    def _local(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError(f"{value.isoformat('minutes')} has a UTC offset; opening hours are the building's "
                             f"local time (its time zone is the `timezone` setting): write "
                             f"{value.replace(tzinfo=None).isoformat('minutes')}")
        return value

    @property
    def always(self) -> bool:
        return self.open == self.close and len(self.days) == 7

    def is_open(self, local: datetime) -> bool:
        """Whether the space is open at ``local`` (an aware or naive time in the building's zone).

        ``open == close`` means open all day on its days; ``close`` earlier than ``open`` (or 00:00) means
        the space closes after midnight, and those early hours belong to the previous day's opening.
        """
        t = local.time()  # naive wall-clock time, like ``open`` and ``close``
        today, yesterday = ALL_DAYS[local.weekday()], ALL_DAYS[(local.weekday() - 1) % 7]
        if self.open == self.close:
            return today in self.days
        if self.open < self.close:
            return today in self.days and self.open <= t < self.close
        return (today in self.days and t >= self.open) or (yesterday in self.days and t < self.close)


def is_open(hours: OpeningHours, local: datetime) -> bool:
    """``hours.is_open(local)``: the one rule, used by the gateway's ticker and API and by central."""
    return hours.is_open(local)


class SpaceConfig(Section):
    """One space students check into."""

    id: str = Field(pattern=SLUG_PATTERN)
    name: str = Field("", max_length=80, description="display name")
    name_zh: str = Field("", max_length=80, description="display name in Chinese (kiosks in Chinese mode)")
    capacity: int = Field(ge=0, description="people allowed at once")
    hours: OpeningHours = Field(default_factory=OpeningHours)
    max_stay_h: float = Field(12.0, gt=0, le=72, description="sessions longer than this are closed (via auto)")
    groups: list[Slug] | None = Field(None, max_length=32,
                                      description="set: only active cardholders of these directory groups may "
                                                  "check in (e.g. clinical-y3); unset: open to every card the "
                                                  "directory does not refuse")


class DeviceEntry(Section):
    """A device the building expects, and what it is told on its retained ``cfg`` topic."""

    device: str = Field(pattern=DEVICE_PATTERN)
    kind: DeviceKind
    space: str | None = Field(None, pattern=SLUG_PATTERN)
    display_name: str | None = Field(None, max_length=80)
    display_name_zh: str | None = Field(None, max_length=80, description="default: the space's ``name_zh``")
    activity: str | None = Field(None, pattern=SLUG_PATTERN, description="attendance mode: the activity id")
    direction: Literal["in", "out", "toggle"] | None = Field(
        None, description="kiosks: in (never checks out), out (never checks in); unset = the kiosk's own "
                          "setting (toggle by default)")
    activity_name: str | None = Field(None, max_length=80, description="the activity's name on the kiosk")
    activity_name_zh: str | None = Field(None, max_length=80, description="the activity's name in Chinese")
    calibration_due: dict[Annotated[str, Field(min_length=1, max_length=48)], date] = Field(
        default_factory=dict, max_length=16,
        description="health stations: each measuring device's next calibration date (component → date); from "
                    "that day the technicians get a work order until a later date is configured")


class Reservation(Section):
    """A booked slot that a card may claim at the space's kiosk."""

    id: str = Field(min_length=1, max_length=64)
    space: str = Field(pattern=SLUG_PATTERN)
    card: Card
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Reservation:
        if self.end <= self.start:
            raise ValueError("reservation ends before it starts")
        return self


class SiteConfig(Section):
    """Everything about a building that central may manage and the gateway applies."""

    spaces: list[SpaceConfig] = Field(default_factory=list)
    devices: list[DeviceEntry] = Field(default_factory=list)
    reservations: list[Reservation] = Field(default_factory=list)
    work_orders: WorkOrderSettings = Field(default_factory=WorkOrderSettings,
                                           description="request categories, departments and their targets")

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        ids = [s.id for s in self.spaces]
        if len(ids) != len(set(ids)):
            raise ValueError("space ids must be unique")
        devices = [d.device for d in self.devices]
        if len(devices) != len(set(devices)):
            raise ValueError("device ids must be unique")
        known = set(ids)
        bad = sorted({d.space for d in self.devices if d.space and d.space not in known} |
                     {r.space for r in self.reservations if r.space not in known})
        if known and bad:
            raise ValueError(f"unknown spaces referenced: {', '.join(bad)}")
        return self
