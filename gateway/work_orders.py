"""Work orders, decided without I/O (docs/work-orders.md): opening one from a student's request or a device's
problem, routing it by the site's categories, moving it through its states, and judging it overdue.

States: open → acknowledged → in-progress → done, or rejected (with a reason) from any open state; a step may
be skipped (a technician who fixes a reader at once marks it done). Device orders have a ``key``
(``device:problem``): while one is open, the same problem opens nothing new, and the device's recovery closes
it (by ``SYSTEM``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from onestop.errors import OnestopError
from onestop.events import Envelope, RequestData
from onestop.ids import uuid7
from onestop.notifications import Message
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


# -- notifications (docs/work-orders.md, "Notifications and escalation") -------------------------------------
# A work order's notices ride the alerts' notification tables, keyed ``wo:{order id}:{kind}`` (never a card):
# ``new`` tells the department's team (tier 0) when the order opens; ``ack`` and ``finish`` escalate once per
# order and target to the team's tier-1 targets (tier 0 again when the team has none).
NOTICE_PREFIX = "wo:"
NoticeKind = Literal["new", "ack", "finish"]
ESCALATION_NOTES: dict[str, str] = {"ack": "escalated: not acknowledged within its target",
                                    "finish": "escalated: not finished within its target"}


def notice_key(order_id: str, kind: NoticeKind) -> str:
    return f"{NOTICE_PREFIX}{order_id}:{kind}"


def parse_notice_key(key: str) -> tuple[str, NoticeKind] | None:
    """``(order id, kind)`` of a work order's notice key; None for anything else (an alert's id)."""
    if not key.startswith(NOTICE_PREFIX):
        return None
    order_id, _, kind = key[len(NOTICE_PREFIX):].rpartition(":")
    return (order_id, kind) if kind in ("new", "ack", "finish") and order_id else None  # type: ignore[return-value]


def due_escalations(record: WorkOrderRecord, now: datetime) -> list[NoticeKind]:
    """The escalations ``record`` has earned by ``now`` and not yet had (its history records each one)."""
    if record.closed:
        return []
    had = {step.note for step in record.history if step.by == SYSTEM}
    kinds: list[NoticeKind] = []
    if record.acknowledged_at is None and now > record.ack_due and ESCALATION_NOTES["ack"] not in had:
        kinds.append("ack")
    if now > record.finish_due and ESCALATION_NOTES["finish"] not in had:
        kinds.append("finish")
    return kinds


def escalated(record: WorkOrderRecord, kinds: list[NoticeKind], at: datetime) -> WorkOrderRecord:
    """``record`` with a history line per escalation (by ``SYSTEM``, state unchanged): the record of it."""
    history = record.history
    for kind in kinds:
        history = [*history, Step(at=at, by=SYSTEM, note=ESCALATION_NOTES[kind])][-MAX_HISTORY:]
    return WorkOrderRecord.model_validate({**record.model_dump(), "updated_at": at, "history": history})


def notice_stale(record: WorkOrderRecord | None, kind: NoticeKind) -> str | None:
    """Why a notice need not go out any more (None: send it): the order is gone or closed, or acknowledged
    before an "not acknowledged" escalation went out."""
    if record is None:
        return "work order gone"
    if record.closed:
        return f"work order {record.state}"
    if kind == "ack" and record.acknowledged_at is not None:
        return "work order acknowledged"
    return None


def compose_notice(record: WorkOrderRecord, kind: NoticeKind, category: str, department: str, building: str,
                   space_name: str | None, zone: ZoneInfo, link: str | None) -> Message:
    """What a team is told of a work order: category, department, place, time, targets and a link.

    Built from named fields only: the student's note (free text) is never read, and an order holds no card.
    """
    opened = record.opened_at.astimezone(UTC)
    local = opened.astimezone(zone)
    where = [f"building {building}"]
    if record.space:
        where.append(f"space {space_name} ({record.space})" if space_name and space_name != record.space
                     else f"space {record.space}")
    if record.device:
        where.append(f"device {record.device}")
    head = {"new": "New work order", "ack": "ESCALATION: work order not acknowledged",
            "finish": "ESCALATION: work order not finished"}[kind]
    lines = [f"{category} ({record.source}), for {department}",
             f"Where: {', '.join(where)}",
             f"Opened: {local:%Y-%m-%d %H:%M:%S} {zone.key} ({opened:%Y-%m-%d %H:%M:%S} UTC)",
             f"State: {record.state}",
             f"Acknowledge by: {record.ack_due.astimezone(zone):%Y-%m-%d %H:%M}; finish by: "
             f"{record.finish_due.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"]
    if link:
        lines.append(f"Open: {link}")
    lines.append(f"Work order id: {record.id}")
    return Message(f"[{head}] {category} at {building}", "\n".join(lines))


def work_order_link(public_url: str | None, order_id: str) -> str | None:
    """The dashboard's link to one work order (the dashboard asks for a sign-in; the link holds no token)."""
    return f"{public_url.rstrip('/')}/work-orders#order={order_id}" if public_url else None
