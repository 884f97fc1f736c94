"""An alert's lifecycle as a history of actions, merged the same way at the gateway and at central. No I/O.

An alert can be acted on in two places that are not always connected: at its building's gateway (the WAN may
be down) and at central. Each action — acknowledge, resolve, assign — is an ``AlertAction`` with its own id,
who, when and an optional note, appended to the alert's ``history``. Two copies of an alert merge by the
union of their histories (by action id, so merging twice changes nothing), and the lifecycle fields are
replayed from the merged history in time order: **the later action wins** (an acknowledge after a resolve
re-opens the alert as acknowledged; one before it changes nothing), and every action is kept. Both sides
run this one function, so once each has seen the other's actions they agree.

Records from before histories existed carry only ``acknowledged_*``/``resolved_*``: they become actions
with ids derived from the alert and the time (``legacy_actions``), the same on both sides.

Response times (``response_times``): time to acknowledge is from raising to the first acknowledge or
resolve by a person (not ``system``, which resolves an alert whose cause went away); time to resolve is
from raising to the resolve that closed it. ``stats`` gives their median and 90th percentile per team and
severity; ``histogram`` the cumulative buckets Prometheus wants.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from onestop.errors import OnestopError
from onestop.ids import uuid7
from onestop.records import HEALTH_TEAMS, MAX_HISTORY, AlertAction, AlertActionKind, AlertRecord, ResponseTimes

SYSTEM = "system"  # who resolved an alert whose cause went away by itself (a device back online)
# Upper bounds (seconds) of the response-time histograms: 30 s ... 1 day.
STATS_DEFAULT = timedelta(days=30)  # the window of a response-time query that names no ``since``
STATS_MAX = timedelta(days=366)  # the longest window asked for
BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0)
_LEGACY = uuid.UUID("6f6e6573-746f-7000-8000-616c65727473")  # namespace of ids derived for legacy actions


class AlertError(OnestopError):
    """An alert action that cannot be taken in the alert's state (already resolved, not open)."""


def new_action(action: AlertActionKind, by: str, at: datetime, note: str | None = None,
               assignee: str | None = None) -> AlertAction:
    """A fresh action with its own id."""
    return AlertAction(id=str(uuid7()), action=action, by=by, at=at, note=note or None, assignee=assignee)


def legacy_actions(record: AlertRecord) -> list[AlertAction]:
    """The actions a record without history implies by its ``acknowledged_*`` and ``resolved_*`` fields."""
    out = []
    for kind, by, at in (("acknowledge", record.acknowledged_by, record.acknowledged_at),
                         ("resolve", record.resolved_by, record.resolved_at)):
        if by is not None and at is not None:
            key = uuid.uuid5(_LEGACY, f"{record.id}:{kind}:{at.isoformat()}")
            out.append(AlertAction(id=str(key), action=kind, by=by, at=at))  # type: ignore[arg-type]
    return out


def actions_of(record: AlertRecord) -> list[AlertAction]:
    """The record's history, or what its lifecycle fields imply when it has none."""
    return list(record.history) if record.history else legacy_actions(record)


def merge(record: AlertRecord, actions: Iterable[AlertAction]) -> AlertRecord:
    """``record`` with ``actions`` added to its history (those it has already are ignored) and its lifecycle
    replayed from it."""
    return replay(record, union(actions_of(record), actions))


def merge_copies(ours: AlertRecord, theirs: AlertRecord) -> AlertRecord:
    """Two copies of one alert as one: the histories' union, the later action winning."""
    base = theirs if theirs.updated_at > ours.updated_at else ours
    return replay(base, union(actions_of(ours), actions_of(theirs)))


def union(*histories: Iterable[AlertAction]) -> list[AlertAction]:
    """Every action of the histories once (by id), in time order, the latest ``MAX_HISTORY``."""
    known: dict[str, AlertAction] = {}
    for history in histories:
        for action in history:
            known.setdefault(action.id, action)
    return sorted(known.values(), key=lambda a: (a.at, a.id))[-MAX_HISTORY:]


def replay(record: AlertRecord, history: Sequence[AlertAction]) -> AlertRecord:
    """The lifecycle fields that ``history`` (in time order) leads to."""
    if not history:
        return record
    state: dict[str, object] = {"status": "open", "acknowledged_by": None, "acknowledged_at": None,
                                "resolved_by": None, "resolved_at": None, "assigned_to": None}
    for action in history:
        if action.action == "acknowledge":
            state.update(status="acknowledged", acknowledged_by=action.by, acknowledged_at=action.at,
                         resolved_by=None, resolved_at=None)
        elif action.action == "resolve":
            state.update(status="resolved", resolved_by=action.by, resolved_at=action.at)
        else:
            state["assigned_to"] = action.assignee
    updated = max(record.updated_at, history[-1].at)
    return record.model_copy(update={**state, "history": list(history), "updated_at": updated})


def notes_withheld(record: AlertRecord) -> AlertRecord:
    """The record with its actions' notes removed: a note on a health alert is free text about a student, for
    the clinic and counselling only (``subject`` is withheld from other roles the same way)."""
    if record.team not in HEALTH_TEAMS or not any(a.note for a in record.history):
        return record
    return record.model_copy(update={"history": [a.model_copy(update={"note": None}) for a in record.history]})


def take(record: AlertRecord, action: AlertAction) -> AlertRecord:
    """A person's action on the alert as it stands here; ``AlertError`` when its state does not allow it."""
    if action.action == "acknowledge" and record.status != "open":
        raise AlertError(f"alert is {record.status}, not open")
    if action.action in ("resolve", "assign") and record.status == "resolved":
        raise AlertError("alert is already resolved")
    return merge(record, [action])


def first_response(record: AlertRecord) -> datetime | None:
    """When a person (not ``system``) first acknowledged or resolved the alert."""
    times = [a.at for a in actions_of(record) if a.action in ("acknowledge", "resolve") and a.by != SYSTEM]
    return min(times) if times else None


def response_times(record: AlertRecord) -> Response:
    """The alert's team, severity, seconds to the first response by a person and to the closing resolve."""
    resolved = record.resolved_at if record.status == "resolved" else None
    return Response(record.team, record.severity, seconds(record.raised_at, first_response(record)),
                    seconds(record.raised_at, resolved))


def seconds(raised: datetime, then: datetime | None) -> float | None:
    """Seconds from ``raised`` to ``then`` (never negative; None when ``then`` is)."""
    return None if then is None else max(0.0, (then - raised).total_seconds())


@dataclass(frozen=True, slots=True)
class Response:
    """One alert's response times."""

    team: str
    severity: str
    acknowledge_s: float | None
    resolve_s: float | None


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` by linear interpolation between closest ranks (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def group_times(responses: Iterable[Response]) -> dict[tuple[str, str], tuple[int, list[float], list[float]]]:
    """Per (team, severity): how many alerts, their times to acknowledge and to resolve."""
    groups: dict[tuple[str, str], tuple[int, list[float], list[float]]] = {}
    for r in responses:
        count, acks, resolves = groups.get((r.team, r.severity), (0, [], []))
        if r.acknowledge_s is not None:
            acks.append(r.acknowledge_s)
        if r.resolve_s is not None:
            resolves.append(r.resolve_s)
        groups[(r.team, r.severity)] = (count + 1, acks, resolves)
    return groups


def stats_window(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of a response-time query: ``until`` or now, ``since`` or ``STATS_DEFAULT`` before it.

    Raises ``AlertError`` when the window is backwards or longer than ``STATS_MAX``; ``OverflowError`` when
    the default start falls before year 1."""
    end = until or now
    start = since or end - STATS_DEFAULT
    if not start < end or end - start > STATS_MAX:
        raise AlertError("since must be before until, at most 366 days apart")
    return start, end


def stats(responses: Iterable[Response]) -> list[ResponseTimes]:
    """Response times per team and severity, sorted by team then severity."""
    return [ResponseTimes(team=team, severity=severity, alerts=count, acknowledged=len(acks),  # type: ignore[arg-type]
                          acknowledge_median_s=quantile(acks, 0.5), acknowledge_p90_s=quantile(acks, 0.9),
                          resolved=len(resolves), resolve_median_s=quantile(resolves, 0.5),
                          resolve_p90_s=quantile(resolves, 0.9))
            for (team, severity), (count, acks, resolves) in sorted(group_times(responses).items())]


def histogram(values: Sequence[float]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative ``(le, count)`` buckets (``+Inf`` last) of ``values`` and their sum, for a Prometheus
    histogram."""
    buckets = [(str(bound), float(sum(v <= bound for v in values))) for bound in BUCKETS]
    return [*buckets, ("+Inf", float(len(values)))], float(sum(values))
