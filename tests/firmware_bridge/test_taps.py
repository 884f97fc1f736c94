"""Repeat suppression where the reader delivers: a card held on the reader is one tap; a different card is a
new tap at once; an unplugged reader forgets its last card. New taps go to ``on_card``, if given."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import PortError
from firmware_bridge.readings import CardRead, PortFault, PortRestored
from firmware_bridge.reconnect import DEFAULT_WINDOW, ReconnectingReader


class Reader(ReconnectingReader):
    """A reader without a device: the test hands it card reads at the times it chooses."""

    def __init__(self, window: float = DEFAULT_WINDOW, *, on_card: bool = True) -> None:
        self.now = 0.0
        self.taps: list[str] = []
        self.events: list[object] = []
        super().__init__("test", self.events.append, on_card=self.taps.append if on_card else None,
                         repeat_window=window, retry_initial=0.01, clock=lambda: self.now)

    def is_new_tap(self, card: str, now: float) -> bool:
        self.now, before = now, len(self.taps)
        self._deliver(CardRead(card))
        return len(self.taps) > before

    def _open(self) -> object:
        return self

    def _pump(self, handle: object) -> None:
        raise NotImplementedError

    def _close(self, handle: object) -> None:
        pass


def test_repeats_of_a_held_card_are_one_tap_however_long_it_is_held() -> None:
    taps = Reader(window=1.0)
    assert [taps.is_new_tap("922E5832", t / 10) for t in range(50)] == [True] + [False] * 49
    assert taps.stats["card-repeats"] == 49 and taps.events == []  # taps went to on_card only


def test_the_same_card_after_the_window_is_a_new_tap() -> None:
    taps = Reader(window=1.0)
    assert taps.is_new_tap("922E5832", 0.0)
    assert not taps.is_new_tap("922E5832", 0.9)
    assert taps.is_new_tap("922E5832", 1.95)


def test_a_different_card_is_a_new_tap_immediately() -> None:
    taps = Reader()
    assert taps.is_new_tap("922E5832", 0.0)
    assert taps.is_new_tap("62E3086CED", 0.01)
    assert taps.is_new_tap("922E5832", 0.02)


def test_an_unplugged_reader_forgets_the_last_card() -> None:
    class Unplugged(Reader):
        pumps = 0

        def _pump(self, handle: object) -> None:  # the same card at the same instant, before and after a replug
            self.pumps += 1
            self._deliver(CardRead("922E5832"))
            if self.pumps == 1:
                raise PortError("unplugged")
            self._stopping.set()

    reader = Unplugged()
    reader._run()
    assert reader.taps == ["922E5832", "922E5832"]
    assert [type(e) for e in reader.events] == [PortFault, PortRestored]


def test_without_on_card_a_tap_is_an_event_like_the_others() -> None:
    reader = Reader(on_card=False)
    reader.is_new_tap("922E5832", 0.0)
    reader.is_new_tap("922E5832", 0.5)
    assert reader.events == [CardRead("922E5832")] and reader.taps == []


def test_a_zero_window_passes_every_read_and_a_negative_one_is_refused() -> None:
    taps = Reader(window=0.0)
    assert taps.is_new_tap("A1B2", 0.0) and taps.is_new_tap("A1B2", 0.0)
    with pytest.raises(ValueError):
        Reader(window=-1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A1B2", "C3D4"]), st.floats(0, 3)), min_size=1, max_size=30))
def test_every_tap_is_a_card_change_or_a_gap_of_at_least_the_window(sightings: list) -> None:
    taps, now, previous = Reader(window=1.0), 0.0, None
    for card, gap in sightings:
        now += gap
        new = taps.is_new_tap(card, now)
        assert new == (previous is None or previous[0] != card or now - previous[1] >= 1.0)
        previous = (card, now)
