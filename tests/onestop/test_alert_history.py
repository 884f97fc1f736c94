"""An alert's lifecycle as a merged history: the later action wins, every action is kept, merging is idempotent
and the same on both sides; response times per team and severity."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from onestop.alert_history import (
    SYSTEM,
    AlertError,
    histogram,
    merge,
    merge_copies,
    new_action,
    quantile,
    response_times,
    stats,
    take,
)
from onestop.records import AlertRecord

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ALERT_ID = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"


def raised(team: str = "counselling", severity: str = "urgent", at: datetime = T0) -> AlertRecord:
    return AlertRecord(id=ALERT_ID, site="north-b3", rule="phq9-item9", severity=severity, team=team,  # type: ignore[arg-type]
                       summary="PHQ-9 item 9 answered", raised_at=at, updated_at=at)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.mark.parametrize("ack_minute, status", [(5, "resolved"), (15, "acknowledged")])
def test_the_later_of_two_offline_actions_wins_on_both_sides_and_both_are_kept(ack_minute, status):
    gateway = take(raised(), new_action("resolve", "gw-nurse", minutes(10), "talked to the student"))
    central = take(raised(), new_action("acknowledge", "cen-lead", minutes(ack_minute)))
    at_gateway, at_central = merge_copies(gateway, central), merge_copies(central, gateway)
    assert at_gateway == at_central
    assert at_gateway.status == status
    in_time_order = [("acknowledge", "cen-lead", None), ("resolve", "gw-nurse", "talked to the student")]
    if ack_minute > 10:
        in_time_order.reverse()
    assert [(a.action, a.by, a.note) for a in at_gateway.history] == in_time_order


def test_merging_is_idempotent_and_order_free():
    actions = [new_action("acknowledge", "a", minutes(1)), new_action("assign", "a", minutes(2), assignee="Li Wei"),
               new_action("resolve", "b", minutes(3), "done")]
    results = {merge(raised(), order).model_dump_json() for order in itertools.permutations(actions)}
    assert len(results) == 1
    once = merge(raised(), actions)
    assert merge(once, actions) == once
    assert (once.status, once.assigned_to, once.resolved_by, once.acknowledged_by) == ("resolved", "Li Wei", "b", "a")
    assert once.updated_at == minutes(3)


def test_a_state_that_does_not_allow_the_action_is_refused():
    done = take(raised(), new_action("resolve", "a", minutes(1)))
    for kind in ("acknowledge", "resolve", "assign"):
        with pytest.raises(AlertError):
            take(done, new_action(kind, "b", minutes(2)))  # type: ignore[arg-type]
    acked = take(raised(), new_action("acknowledge", "a", minutes(1)))
    with pytest.raises(AlertError, match="acknowledged, not open"):
        take(acked, new_action("acknowledge", "b", minutes(2)))


def test_a_record_from_before_histories_merges_with_one_that_has_them():
    legacy = raised().model_copy(update={"status": "acknowledged", "acknowledged_by": "old", "acknowledged_at":
                                         minutes(1), "updated_at": minutes(1)})
    newer = take(legacy, new_action("resolve", "new", minutes(2)))
    assert [a.action for a in newer.history] == ["acknowledge", "resolve"]
    assert merge_copies(legacy, newer) == merge_copies(newer, legacy) == newer
    assert merge(legacy, []).history[0].id == merge(legacy.model_copy(), []).history[0].id  # derived, stable


def test_response_times_count_people_not_the_system():
    by_person = merge(raised(), [new_action("acknowledge", "a", minutes(2)), new_action("resolve", "b", minutes(30))])
    by_system = merge(raised(), [new_action("resolve", SYSTEM, minutes(7))])
    reopened = merge(raised(), [new_action("resolve", "a", minutes(4)), new_action("acknowledge", "b", minutes(9))])
    def times(record):
        response = response_times(record)
        return response.acknowledge_s, response.resolve_s

    assert times(by_person) == (120.0, 1800.0)
    assert times(by_system) == (None, 420.0)
    assert times(reopened) == (240.0, None)  # acknowledged again: not resolved any more


def test_stats_give_median_and_p90_per_team_and_severity():
    records = [merge(raised(), [new_action("acknowledge", "a", minutes(m)),
                                new_action("resolve", "a", minutes(m * 10))]) for m in (1, 2, 3, 4, 11)]
    records.append(raised("facilities", "notice"))
    timings = {(t.team, t.severity): t for t in stats(map(response_times, records))}
    urgent = timings[("counselling", "urgent")]
    # acknowledged after 60, 120, 180, 240, 660 s: p90 lies 60 % of the way from the 4th to the 5th
    assert (urgent.alerts, urgent.acknowledged, urgent.acknowledge_median_s, urgent.acknowledge_p90_s) == (
        5, 5, 180.0, 240 + 0.6 * (660 - 240))
    assert (urgent.resolved, urgent.resolve_median_s) == (5, 1800.0)
    assert timings[("facilities", "notice")].acknowledged == 0
    assert timings[("facilities", "notice")].acknowledge_median_s is None
    assert quantile([], 0.5) is None and quantile([7.0], 0.9) == 7.0


def test_histogram_buckets_are_cumulative_and_end_with_inf():
    buckets, total = histogram([10.0, 45.0, 45.0, 100000.0])
    assert dict(buckets)["30.0"] == 1 and dict(buckets)["60.0"] == 3 and dict(buckets)["86400.0"] == 3
    assert buckets[-1] == ("+Inf", 4.0) and total == 100100.0


def test_a_copy_without_actions_adds_none_of_its_own():
    fresh = raised()
    resolved = take(fresh, new_action("resolve", "a", minutes(1), "done"))
    assert merge_copies(fresh, resolved).history == resolved.history
    assert merge_copies(resolved, fresh).history == resolved.history
