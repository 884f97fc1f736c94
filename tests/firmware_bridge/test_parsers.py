"""Properties every driver's parser must have: round trips in any chunking, garbage, corruption, resync."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.drivers import DRIVERS
from firmware_bridge.readings import FrameRejected

from .formats import FORMATS, Format, bytewise, chunked, expected, feed, readings

SETTINGS = settings(max_examples=40, deadline=None)
CHECKSUMMED = [name for name, f in FORMATS.items() if f.protected]


def test_every_registered_driver_has_a_test_format() -> None:
    assert set(FORMATS) == set(DRIVERS)


@st.composite
def stream(draw: st.DrawFn, fmt: Format) -> tuple[bytes, list]:
    """Frames with garbage before, between and after them; returns the bytes and the frames."""
    frames = draw(st.lists(fmt.frame, min_size=1, max_size=6))
    parts = [draw(fmt.garbage)]
    for frame in frames:
        parts += [frame[0], draw(fmt.garbage)]
    return b"".join(parts), frames


@pytest.mark.parametrize("driver", sorted(FORMATS))
@SETTINGS
@given(data=st.data())
def test_frames_round_trip_whole_byte_by_byte_and_in_random_chunks(driver: str, data: st.DataObject) -> None:
    fmt = FORMATS[driver]
    raw, frames = data.draw(stream(fmt))
    whole = feed(fmt.parser(), [raw])
    assert readings(whole) == expected(frames)
    assert feed(fmt.parser(), bytewise(raw)) == whole
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert feed(fmt.parser(), chunked(raw, cuts)) == whole


@pytest.mark.parametrize("driver", sorted(FORMATS))
@SETTINGS
@given(data=st.data())
def test_bad_bytes_are_reported_and_good_frames_alone_report_nothing(
    driver: str, data: st.DataObject
) -> None:
    fmt = FORMATS[driver]
    frames = data.draw(st.lists(fmt.frame, min_size=1, max_size=4))
    clean = feed(fmt.parser(), [b"".join(f[0] for f in frames)])
    assert not [e for e in clean if isinstance(e, FrameRejected)]
    garbage = data.draw(fmt.garbage.filter(lambda g: g.strip(b"\r\n \t") != b""))
    dirty = feed(fmt.parser(), [garbage + b"".join(f[0] for f in frames)])
    assert [e for e in dirty if isinstance(e, FrameRejected)]


@pytest.mark.parametrize("driver", CHECKSUMMED)
@SETTINGS
@given(data=st.data())
def test_a_corrupted_frame_never_yields_a_reading_and_the_next_frame_is_read(
    driver: str, data: st.DataObject
) -> None:
    fmt = FORMATS[driver]
    assert fmt.protected is not None
    before, victim, after = (data.draw(fmt.frame) for _ in range(3))
    covered = fmt.protected(victim[0])
    position = data.draw(st.sampled_from(covered))
    mask = data.draw(st.integers(1, 255))
    corrupted = bytearray(victim[0])
    corrupted[position] ^= mask
    events = feed(fmt.parser(), [before[0] + bytes(corrupted) + after[0]])
    assert readings(events) == before[1] + after[1]
    if victim[1]:
        assert [e for e in events if isinstance(e, FrameRejected)]


@pytest.mark.parametrize("driver", sorted(FORMATS))
@SETTINGS
@given(data=st.data())
def test_a_frame_cut_short_costs_only_that_frame(driver: str, data: st.DataObject) -> None:
    fmt = FORMATS[driver]
    first, cut, last = (data.draw(fmt.frame) for _ in range(3))
    keep = data.draw(st.integers(1, len(cut[0]) - 1))
    partial = cut[0][:keep]
    if driver in ("wedge", "and-scale", "gatt-bp", "gatt-temp"):
        partial += b"#\n"  # a line format can only tell a cut line by its content; make it unmistakable
    events = feed(fmt.parser(), [first[0] + partial + last[0]])
    got = readings(events)
    assert got[: len(first[1])] == first[1]
    if last[2] is None or last[2] != first[2]:  # unless collapsed as a repeat, the last frame is read
        assert got[len(got) - len(last[1]) :] == last[1]
