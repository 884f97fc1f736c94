from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.occupancy import OccupancyBook, is_open
from onestop.site import OpeningHours, SpaceConfig

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


def book(**hours) -> OccupancyBook:
    spaces = {"lab": SpaceConfig(id="lab", capacity=2, hours=OpeningHours(**hours), max_stay_h=4),
              "study": SpaceConfig(id="study", capacity=50)}
    return OccupancyBook(spaces)


def test_checkin_then_checkout_counts_and_reports_changed_spaces():
    b = book()
    assert b.apply("checkin", "lab", "AA01", T0) == {"lab"}
    assert b.apply("checkin", "lab", "AA02", T0) == {"lab"}
    assert b.count("lab") == 2
    assert b.apply("checkout", "lab", "AA01", T0) == {"lab"}
    assert b.count("lab") == 1 and not b.anomalies


def test_second_checkin_of_a_card_inside_changes_nothing_and_is_counted():
    b = book()
    b.apply("checkin", "lab", "AA01", T0)
    assert b.apply("checkin", "lab", "AA01", T0) == set()
    assert b.count("lab") == 1 and b.anomalies["double-checkin"] == 1


def test_checkout_without_checkin_changes_nothing_and_is_counted():
    b = book()
    assert b.apply("checkout", "lab", "AA01", T0) == set()
    assert b.count("lab") == 0 and b.anomalies["checkout-without-checkin"] == 1


def test_checkin_elsewhere_moves_the_card():
    b = book()
    b.apply("checkin", "lab", "AA01", T0)
    assert b.apply("checkin", "study", "AA01", T0) == {"lab", "study"}
    assert (b.count("lab"), b.count("study")) == (0, 1) and b.anomalies["moved"] == 1
    assert b.apply("checkout", "lab", "AA01", T0) == set()  # no longer there


def test_unknown_spaces_are_counted_and_ignored():
    b = book()
    assert b.apply("checkin", "nowhere", "AA01", T0) == set()
    assert b.anomalies["unknown-space"] == 1


def test_sessions_past_the_maximum_stay_are_due_for_automatic_checkout():
    b = book()
    b.apply("checkin", "lab", "AA01", T0)
    b.apply("checkin", "lab", "AA02", T0 + timedelta(hours=3))
    due = b.due_checkouts(T0 + timedelta(hours=4, minutes=1))
    assert [(d.card, d.reason) for d in due] == [("AA01", "max-stay")]


def test_sessions_left_open_at_closing_time_are_due():
    b = book(open=time(8), close=time(18))
    b.apply("checkin", "lab", "AA01", T0.replace(hour=15))
    assert b.due_checkouts(T0.replace(hour=17, minute=59)) == []
    assert [(d.card, d.reason) for d in b.due_checkouts(T0.replace(hour=18))] == [("AA01", "closing")]


@pytest.mark.parametrize(("hours", "local", "expected"), [
    ({}, datetime(2026, 11, 23, 3, 0), True),                                             # always open
    ({"open": time(8), "close": time(22)}, datetime(2026, 11, 23, 7, 59), False),
    ({"open": time(8), "close": time(22)}, datetime(2026, 11, 23, 8, 0), True),
    ({"open": time(8), "close": time(22)}, datetime(2026, 11, 23, 22, 0), False),
    ({"open": time(8), "close": time(0)}, datetime(2026, 11, 23, 23, 59), True),          # until midnight
    ({"open": time(20), "close": time(2)}, datetime(2026, 11, 24, 1, 0), True),           # overnight
    ({"open": time(20), "close": time(2), "days": ["mon"]}, datetime(2026, 11, 24, 1, 0), True),
    ({"open": time(20), "close": time(2), "days": ["tue"]}, datetime(2026, 11, 24, 1, 0), False),
    ({"open": time(8), "close": time(18), "days": ["sat", "sun"]}, datetime(2026, 11, 23, 10, 0), False),
])
def test_opening_hours(hours, local, expected):
    assert is_open(OpeningHours(**hours), local) is expected


def test_opening_hours_use_the_buildings_time_zone():
    b = OccupancyBook({"lab": SpaceConfig(id="lab", capacity=5, hours=OpeningHours(open=time(8), close=time(18)))},
                      ZoneInfo("Asia/Shanghai"))
    b.apply("checkin", "lab", "AA01", T0)
    # 09:59 UTC is 17:59 in Shanghai: still open; 10:00 UTC is 18:00: closing time.
    assert b.due_checkouts(T0.replace(hour=9, minute=59)) == []
    assert len(b.due_checkouts(T0.replace(hour=10))) == 1


def test_people_counter_readings_are_kept_beside_the_tap_count():
    b = book()
    assert b.sensor_reading("study", 12, T0) is True
    assert b.sensor_reading("study", 12, T0) is False
    assert b.sensor_counts["study"][0] == 12 and b.count("study") == 0


def test_an_automatic_checkout_overtaken_by_a_tap_out_closes_nothing(tmp_path):
    """The tick decides, a tap-out is ingested, then the tick records: one check-out, not two."""
    from gateway.building import Building
    from gateway.ingest import Accepted
    from gateway.settings import GatewaySettings
    from gateway.store import Store
    from onestop.events import new_event
    from tests.helpers import query

    settings = GatewaySettings.model_validate({
        "site": "s1", "data_dir": str(tmp_path), "broker": {"username": "s1-gateway"},
        "spaces": [{"id": "lab", "capacity": 10, "max_stay_h": 4}],
        "devices": [{"device": "kiosk-1", "kind": "kiosk", "space": "lab"}]})
    store = Store(tmp_path / "gateway.db")
    building = Building(settings, store, publish=lambda message: None)

    def tap(seq: int, kind: str, at: datetime) -> None:
        env = new_event("kiosk-1", seq, kind, {"space": "lab", "card": "AA01", "via": "tap", "reservation": None})
        store.write_batch([Accepted(env, env.to_json(), at.timestamp())], [], derive=building.derive)

    now = datetime.now(UTC).replace(microsecond=0)
    tap(1, "checkin", now - timedelta(hours=5))
    due = building.occupancy.due_checkouts(now)  # the ticker's decision...
    assert [(d.card, d.reason) for d in due] == [("AA01", "max-stay")]
    tap(2, "checkout", now)  # ...overtaken by the student tapping out
    assert building.close_sessions(due, now) == 0
    checkouts = query(tmp_path / "gateway.db", "SELECT device FROM events WHERE type = 'checkout'")
    assert checkouts == [("kiosk-1",)]
    assert building.occupancy.count("lab") == 0 and not building.occupancy.anomalies
    store.close()


def test_an_automatic_checkout_never_closes_a_newer_session_of_the_same_card():
    b = book()
    b.apply("checkin", "lab", "AA01", T0)
    (auto,) = b.due_checkouts(T0 + timedelta(hours=5))
    assert b.still_open(auto)
    b.apply("checkout", "lab", "AA01", T0 + timedelta(hours=5))
    b.apply("checkin", "lab", "AA01", T0 + timedelta(hours=5))  # a new session of the same card
    assert not b.still_open(auto)
