"""Repeat suppression: a card held on the reader is one tap; a different card is a new tap at once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.taps import RepeatSuppressor


def test_repeats_of_a_held_card_are_one_tap_however_long_it_is_held() -> None:
    taps = RepeatSuppressor(window=1.0)
    assert [taps.is_new_tap("922E5832", t / 10) for t in range(50)] == [True] + [False] * 49


def test_the_same_card_after_the_window_is_a_new_tap() -> None:
    taps = RepeatSuppressor(window=1.0)
    assert taps.is_new_tap("922E5832", 0.0)
    assert not taps.is_new_tap("922E5832", 0.9)
    assert taps.is_new_tap("922E5832", 1.95)


def test_a_different_card_is_a_new_tap_immediately() -> None:
    taps = RepeatSuppressor()
    assert taps.is_new_tap("922E5832", 0.0)
    assert taps.is_new_tap("62E3086CED", 0.01)
    assert taps.is_new_tap("922E5832", 0.02)


def test_reset_forgets_the_last_card() -> None:
    taps = RepeatSuppressor()
    taps.is_new_tap("922E5832", 0.0)
    taps.reset()
    assert taps.is_new_tap("922E5832", 0.1)


def test_a_zero_window_passes_every_read_and_a_negative_one_is_refused() -> None:
    taps = RepeatSuppressor(window=0.0)
    assert taps.is_new_tap("A1B2", 0.0) and taps.is_new_tap("A1B2", 0.0)
    with pytest.raises(ValueError):
        RepeatSuppressor(window=-1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A1B2", "C3D4"]), st.floats(0, 3)), min_size=1, max_size=30))
def test_every_tap_is_a_card_change_or_a_gap_of_at_least_the_window(sightings: list) -> None:
    taps, now, previous = RepeatSuppressor(window=1.0), 0.0, None
    for card, gap in sightings:
        now += gap
        new = taps.is_new_tap(card, now)
        assert new == (previous is None or previous[0] != card or now - previous[1] >= 1.0)
        previous = (card, now)
