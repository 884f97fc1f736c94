"""Work orders (issue 19, docs/work-orders.md): the categories a kiosk offers, the departments they route to,
the states an order moves through, and the service-level targets — the facts the kiosk, the gateway and
central agree on, stated once here.

A site changes the list in its configuration (``[[work_orders.categories]]`` of the gateway, the same model);
``DEFAULT_CATEGORIES`` is what a site gets without one. Each category names a ``department``, and each
department a notification ``team`` (the ``[[notify]]`` team names of the alerts) and its targets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from onestop import keyed
from onestop.ids import DEVICE_PATTERN, SITE_PATTERN, SLUG_PATTERN
from onestop.notifications import NotifyTeam
from onestop.roles import Role
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
    team: NotifyTeam | Literal[""] = Field("", description="the [[notify]] team told of new and overdue orders "
                                                         "(default: the id; a site's own department names one "
                                                         "of the [[notify]] teams here)")
    ack_min: float = Field(60, gt=0, le=30 * 24 * 60, description="target time to acknowledge, minutes")
    finish_h: float = Field(24, gt=0, le=365 * 24, description="target time to finish, hours")

    @property
    def notify_team(self) -> str:
        """The notification team (the department's id unless configured)."""
        return self.team or self.id


class CategoryLabel(Section):
    """One button on the kiosk's "Report a problem / request a service" screen (what a kiosk is told)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    label: str = Field(min_length=1, max_length=40)
    label_zh: str = Field("", max_length=40)


class Category(CategoryLabel):
    """A category and the department it routes to."""

    department: str = Field(pattern=SLUG_PATTERN)


DEFAULT_DEPARTMENTS: tuple[Department, ...] = (
    Department(id="facilities", name="Facilities", ack_min=60, finish_h=24),
    Department(id="technicians", name="Technicians", ack_min=30, finish_h=8),
    Department(id="counselling", name="Counselling centre", ack_min=240, finish_h=72),
    Department(id="clinic", name="Campus clinic", ack_min=120, finish_h=48),
    Department(id="student-affairs", name="Student affairs", ack_min=240, finish_h=72),
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
    return keyed.subkey(site_key, b"onestop-requests")


def requester_tag(key: bytes, card: str) -> str:
    """The tag a work order keeps instead of the card (``onestop.keyed.tag``)."""
    return keyed.tag(key, card)


# -- the record a gateway keeps and central receives ------------------------------------------------------------
MAX_HISTORY = 50
Source = Literal["request", "device"]
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Step(BaseModel):
    """One line of a work order's history: who did what when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    by: str = Field(max_length=64)
    state: State | None = None  # the state it moved to, if it moved
    note: str | None = Field(None, max_length=MAX_NOTE)


class WorkOrderRecord(BaseModel):
    """A work order: what, where, for which department, its state and history, and its targets.

    No card: a request with a reply wanted is matched to its student by a keyed tag the gateway keeps beside
    the record (never synced). ``updated_at`` orders versions: central keeps the newer (docs/work-orders.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=UUID_PATTERN, description="the request event's id, or a fresh UUIDv7 for a device's")
    site: str = Field(pattern=SITE_PATTERN)
    source: Source
    category: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    department: str = Field(pattern=SLUG_PATTERN)
    state: State = "open"
    space: str | None = Field(None, pattern=SLUG_PATTERN)
    device: str | None = Field(None, pattern=DEVICE_PATTERN)
    problem: str | None = Field(None, max_length=64, description="device orders: fault component, offline, "
                                                                  "calibration")
    summary: str = Field(max_length=200)
    note: str | None = Field(None, max_length=MAX_NOTE, description="the student's note, if any")
    reply_wanted: bool = False
    assignee: str | None = Field(None, max_length=64)
    reason: str | None = Field(None, max_length=MAX_NOTE, description="why it was rejected")
    opened_at: datetime
    acknowledged_at: datetime | None = None
    finished_at: datetime | None = None  # done or rejected
    updated_at: datetime
    ack_due: datetime
    finish_due: datetime
    history: list[Step] = Field(default_factory=list, max_length=MAX_HISTORY)

    @property
    def closed(self) -> bool:
        return self.state in CLOSED

    def is_overdue(self, now: datetime) -> bool:
        """Late against its targets: not acknowledged by ``ack_due``, or not finished by ``finish_due``."""
        if self.closed:
            return False
        return (self.state == "open" and now > self.ack_due) or now > self.finish_due


class WorkOrderSync(BaseModel):
    """``POST /api/v1/work-orders/sync`` (role gateway): a site's changed work orders."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(pattern=SITE_PATTERN)
    work_orders: list[WorkOrderRecord] = Field(max_length=500)


# Which departments each role sees, at the gateway and at central: the one statement of the rule. A
# counselling appointment request says who wants counselling, so it is counselling's (and admin's) alone;
# the clinic's likewise; staff sees every other department, including those a site adds.
PRIVATE_DEPARTMENTS = frozenset({"counselling", "clinic"})
ROLE_DEPARTMENTS: dict[Role, frozenset[str] | None] = {
    Role.FACILITIES: frozenset({"facilities"}), Role.TECHNICIAN: frozenset({"technicians"}),
    Role.COUNSELLING: frozenset({"counselling"}), Role.CLINIC: frozenset({"clinic"}),
    Role.ADMIN: None, Role.GATEWAY: frozenset(),
}


def may_see(role: Role, department: str) -> bool:
    """Whether ``role`` may see and handle the work orders of ``department``."""
    if role is Role.STAFF:
        return department not in PRIVATE_DEPARTMENTS
    allowed = ROLE_DEPARTMENTS.get(role, frozenset())
    return allowed is None or department in allowed
