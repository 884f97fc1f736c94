"""Work orders (issue 19, docs/work-orders.md): the categories a kiosk offers, the departments they route to,
the states an order moves through, and the service-level targets — the facts the kiosk, the gateway and
central agree on, stated once here.

A site changes the list in its configuration (``[[work_orders.categories]]`` of the gateway, the same model);
``DEFAULT_CATEGORIES`` is what a site gets without one. Each category names a ``department``, and each
department a notification ``team`` (the ``[[notify]]`` team names of the alerts) and its targets.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from pydantic import Field, model_validator

from onestop.ids import SLUG_PATTERN
from onestop.settings import Section

State = Literal["open", "acknowledged", "in-progress", "done", "rejected"]
STATES: tuple[State, ...] = ("open", "acknowledged", "in-progress", "done", "rejected")
CLOSED: frozenset[str] = frozenset({"done", "rejected"})
# Allowed moves: forward one or more steps, or rejected from any open state; closed orders stay closed
# (a device fault that recurs opens a new order).
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "in-progress", "done", "rejected"}),
    "acknowledged": frozenset({"in-progress", "done", "rejected"}),
    "in-progress": frozenset({"done", "rejected"}),
    "done": frozenset(),
    "rejected": frozenset(),
}
MAX_NOTE = 200  # a student's note, a staff note or a rejection reason
DEVICE_CATEGORY = "device-fault"  # the category of the orders devices open themselves


class Department(Section):
    """Who handles a category, which team is notified, and the service-level targets."""

    id: str = Field(pattern=SLUG_PATTERN)
    name: str = Field("", max_length=80)
    team: str = Field("", pattern=r"^$|^[a-z0-9][a-z0-9-]{0,63}$",
                      description="the [[notify]] team told of new and overdue orders (default: the id)")
    ack_min: float = Field(60, gt=0, le=30 * 24 * 60, description="target time to acknowledge, minutes")
    finish_h: float = Field(24, gt=0, le=365 * 24, description="target time to finish, hours")

    @property
    def notify_team(self) -> str:
        """The notification team (the department's id unless configured)."""
        return self.team or self.id


class Category(Section):
    """One button on the kiosk's "Report a problem / request a service" screen."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    label: str = Field(min_length=1, max_length=40)
    label_zh: str = Field("", max_length=40)
    department: str = Field(pattern=SLUG_PATTERN)


DEFAULT_DEPARTMENTS: tuple[Department, ...] = (
    Department(id="facilities", name="Facilities", ack_min=60, finish_h=24),
    Department(id="technicians", name="Technicians", team="technician", ack_min=30, finish_h=8),
    Department(id="counselling", name="Counselling centre", ack_min=240, finish_h=72),
    Department(id="clinic", name="Campus clinic", ack_min=120, finish_h=48),
    Department(id="student-affairs", name="Student affairs", team="staff", ack_min=240, finish_h=72),
)
DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(id="seat-desk", label="Seat or desk broken", label_zh="座椅或桌子损坏", department="facilities"),
    Category(id="equipment", label="Equipment fault", label_zh="设备故障", department="technicians"),
    Category(id="climate", label="Too hot / cold / stuffy", label_zh="太热/太冷/闷", department="facilities"),
    Category(id="cleanliness", label="Cleanliness", label_zh="清洁卫生", department="facilities"),
    Category(id="noise", label="Noise", label_zh="噪音", department="student-affairs"),
    Category(id="counselling", label="Counselling appointment", label_zh="预约心理咨询",
             department="counselling"),
    Category(id="other", label="Other", label_zh="其他", department="student-affairs"),
)
MAX_CATEGORIES = 12  # what fits on the kiosk's screen as buttons


class WorkOrderSettings(Section):
    """A site's categories and departments (``[work_orders]`` of the gateway; defaults above)."""

    departments: list[Department] = Field(default_factory=lambda: list(DEFAULT_DEPARTMENTS))
    categories: list[Category] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES),
                                       max_length=MAX_CATEGORIES)
    device_department: str = Field("technicians", pattern=SLUG_PATTERN,
                                   description="where device faults, offline devices and calibration go")

    @model_validator(mode="after")
    def _references(self) -> WorkOrderSettings:
        known = {d.id for d in self.departments}
        if len(known) != len(self.departments) or len({c.id for c in self.categories}) != len(self.categories):
            raise ValueError("department and category ids must be unique")
        bad = sorted({c.department for c in self.categories} - known | ({self.device_department} - known))
        if bad:
            raise ValueError(f"unknown departments referenced: {', '.join(bad)}")
        return self

    def department(self, department_id: str) -> Department:
        """The department with this id (``KeyError`` if none)."""
        for candidate in self.departments:
            if candidate.id == department_id:
                return candidate
        raise KeyError(department_id)

    def route(self, category: str) -> Department:
        """The department a category goes to; an unknown category (a kiosk with an older list) goes to the
        department of ``other`` when there is one, else the first."""
        found = next((c for c in self.categories if c.id == category), None)
        if found is None:
            found = next((c for c in self.categories if c.id == "other"), None)
        return self.department(found.department) if found else self.departments[0]


def requester_key(site_key: bytes) -> bytes:
    """The building's key for tags of the cards that asked for a reply (every kiosk of the site holds it, so
    a student may look at any kiosk); derived from the site key like the presence keys."""
    return hmac.new(site_key, b"onestop-requests", hashlib.sha256).digest()


def requester_tag(key: bytes, card: str) -> str:
    """The tag a work order keeps instead of the card: 16 bytes of ``HMAC-SHA256(key, card)``, hex."""
    return hmac.new(key, card.encode(), hashlib.sha256).hexdigest()[:32]
