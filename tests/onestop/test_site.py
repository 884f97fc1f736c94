"""Opening hours: one rule for the gateway and central, and local wall-clock times only."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from central.utilisation import is_open as central_is_open
from gateway.occupancy import OccupancyBook
from gateway.occupancy import is_open as gateway_is_open
from gateway.settings import GatewaySettings
from onestop.site import OpeningHours, SiteConfig, SpaceConfig

ZONE = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, tzinfo=ZONE)  # a Monday, local time
DAY = OpeningHours(open=time(7), close=time(22))
NIGHT = OpeningHours(open=time(22), close=time(6))
WEEKDAY_NIGHTS = OpeningHours(open=time(22), close=time(6), days=["mon", "tue", "wed", "thu", "fri"])
ALL_DAY = OpeningHours()
TO_MIDNIGHT = OpeningHours(open=time(8), close=time(0))

CASES = [  # (hours, day offset from Monday, hour, minute, open?)
    (DAY, 0, 6, 59, False), (DAY, 0, 7, 0, True), (DAY, 0, 21, 59, True), (DAY, 0, 22, 0, False),
    (NIGHT, 0, 21, 59, False), (NIGHT, 0, 22, 0, True), (NIGHT, 1, 0, 0, True), (NIGHT, 1, 5, 59, True),
    (NIGHT, 1, 6, 0, False), (NIGHT, 1, 12, 0, False),
    (WEEKDAY_NIGHTS, 5, 1, 0, True),   # Saturday 01:00 belongs to Friday night
    (WEEKDAY_NIGHTS, 5, 23, 0, False), (WEEKDAY_NIGHTS, 6, 1, 0, False), (WEEKDAY_NIGHTS, 0, 1, 0, False),
    (ALL_DAY, 0, 0, 0, True), (ALL_DAY, 3, 23, 59, True),
    (TO_MIDNIGHT, 0, 23, 59, True), (TO_MIDNIGHT, 1, 0, 0, False), (TO_MIDNIGHT, 1, 7, 59, False),
]


@pytest.mark.parametrize(("hours", "day", "hour", "minute", "expected"), CASES)
def test_gateway_and_central_agree_on_when_a_space_is_open(hours, day, hour, minute, expected):
    local = MONDAY.replace(day=MONDAY.day + day, hour=hour, minute=minute)
    assert gateway_is_open(hours, local) is expected
    assert central_is_open(hours, local) is expected
    assert gateway_is_open(hours, local.astimezone(UTC).astimezone(ZONE)) is expected


@pytest.mark.parametrize("value", ["07:00+08:00", "07:00Z", "07:00:00-05:00"])
def test_an_opening_time_with_a_utc_offset_is_refused_with_a_clear_message(value):
    with pytest.raises(ValidationError) as refused:
        SiteConfig.model_validate({"spaces": [{"id": "lab", "capacity": 5, "hours": {"open": value}}]})
    message = str(refused.value)
    assert "spaces.0.hours.open" in message and "UTC offset" in message and "write 07:00" in message


def test_a_gateway_file_with_offset_hours_does_not_start():
    with pytest.raises(ValidationError, match="UTC offset"):
        GatewaySettings.model_validate({"site": "s1", "spaces": [
            {"id": "lab", "capacity": 5, "hours": {"open": "07:00", "close": "22:00+08:00"}}]})


def test_the_ticker_closes_overnight_sessions_at_the_local_closing_time():
    book = OccupancyBook({"lab": SpaceConfig(id="lab", capacity=5, hours=NIGHT)}, ZONE)
    book.apply("checkin", "lab", "AA01", MONDAY.replace(hour=23).astimezone(UTC))
    assert book.due_checkouts(MONDAY.replace(day=24, hour=5, minute=59).astimezone(UTC)) == []
    assert [d.reason for d in book.due_checkouts(MONDAY.replace(day=24, hour=6).astimezone(UTC))] == ["closing"]
