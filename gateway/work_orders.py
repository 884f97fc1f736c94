"""Work orders, decided without I/O (docs/work-orders.md): opening one from a student's request or a device's
problem, routing it by the site's categories, moving it through its states, and judging it overdue.

States: open → acknowledged → in-progress → done, or rejected (with a reason) from any open state; a step may
be skipped (a technician who fixes a reader at once marks it done). Device orders have a ``key``
(``device:problem``): while one is open, the same problem opens nothing new, and the device's recovery closes
it (by ``SYSTEM``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from onestop.errors import OnestopError
from onestop.events import Envelope, RequestData
from onestop.ids import uuid7
from onestop.work_orders import (
    DEVICE_CATEGORY,
    MAX_HISTORY,
    TRANSITIONS,
    Department,
    State,
    Step,
    WorkOrderRecord,
    WorkOrderSettings,
)

SYSTEM = "system"  # who opened or closed a device's order


class WorkOrderError(OnestopError):
    """A change a work order cannot take (closed already, a state it cannot reach, no reason to reject)."""


def _targets(department: Department, at: datetime) -> dict[str, datetime]:
    return {"ack_due": at + timedelta(minutes=department.ack_min),
            "finish_due": at + timedelta(hours=department.finish_h)}


def from_request(site: str, event: Envelope, settings: WorkOrderSettings, at: datetime) -> WorkOrderRecord | None:
    """The order a ``request`` event opens, routed by its category (``at``: the gateway's receive time)."""
    data = event.data
    if not isinstance(data, RequestData):
        return None
    department = settings.route(data.category)
    label = next((c.label for c in settings.categories if c.id == data.category), data.category)
    return WorkOrderRecord(id=event.id, site=site, source="request", category=data.category,
                           department=department.id, space=data.space, device=event.device,
                           summary=f"{label} in {data.space}", note=data.note, reply_wanted=data.card is not None,
                           opened_at=at, updated_at=at, history=[Step(at=at, by=event.device, state="open")],
                           **_targets(department, at))


def device_key(device: str, problem: str) -> str:
    """One open order per device and problem."""
    return f"{device}:{problem}"


def for_device(site: str, device: str, problem: str, summary: str, settings: WorkOrderSettings, at: datetime,
               space: str | None = None) -> WorkOrderRecord:
    """A technicians' order for a device's problem (a fault's component, ``offline``, ``calibration``)."""
    department = settings.department(settings.device_department)
    return WorkOrderRecord(id=str(uuid7()), site=site, source="device", category=DEVICE_CATEGORY,
                           department=department.id, space=space, device=device, problem=problem[:64],
                           summary=summary[:200], opened_at=at, updated_at=at,
                           history=[Step(at=at, by=SYSTEM, state="open")], **_targets(department, at))


def _history(record: WorkOrderRecord, step: Step) -> list[Step]:
    return [*record.history, step][-MAX_HISTORY:]


def move(record: WorkOrderRecord, to: State, who: str, at: datetime, *, note: str | None = None,
         reason: str | None = None, assignee: str | None = None) -> WorkOrderRecord:
    """``record`` moved to ``to`` by ``who``; ``WorkOrderError`` when it cannot go there."""
    if to not in TRANSITIONS[record.state]:
        raise WorkOrderError(f"a work order that is {record.state} cannot become {to}")
    if to == "rejected" and not (reason and reason.strip()):
        raise WorkOrderError("a rejection needs a reason")
    update: dict[str, object] = {"state": to, "updated_at": at,
                                 "history": _history(record, Step(at=at, by=who, state=to, note=note or reason))}
    if record.acknowledged_at is None and to != "rejected":
        update["acknowledged_at"] = at  # skipping "acknowledged" still acknowledges it
    if to in ("done", "rejected"):
        update["finished_at"] = at
    if to == "rejected":
        update["reason"] = reason
    if assignee is not None:
        update["assignee"] = assignee or None
    elif to in ("acknowledged", "in-progress") and record.assignee is None and who != SYSTEM:
        update["assignee"] = who
    return WorkOrderRecord.model_validate({**record.model_dump(), **update})


def annotate(record: WorkOrderRecord, who: str, at: datetime, note: str | None,
             assignee: str | None = None) -> WorkOrderRecord:
    """A note or a new assignee, without a change of state."""
    if record.closed:
        raise WorkOrderError(f"the work order is {record.state}")
    update: dict[str, object] = {"updated_at": at, "history": _history(record, Step(at=at, by=who, note=note))}
    if assignee is not None:
        update["assignee"] = assignee or None
    return WorkOrderRecord.model_validate({**record.model_dump(), **update})
