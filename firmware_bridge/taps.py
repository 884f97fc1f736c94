"""Card repeat suppression: many frames from one card held on a reader are one tap.

Readers repeat themselves: an RDM6300 sends its frame about ten times a second while the card stays in
the field, a polled PN532 finds the same card on every poll. ``RepeatSuppressor`` decides, with the time
passed in, which reads are new taps:
- the same card seen again within ``window`` seconds of its *last sighting* is the same tap, so a card held
  for a minute is one tap, and lifting it and tapping again after the window is a second tap;
- a different card is a new tap at once (the previous card's window does not delay it);
- the window follows only the most recent card: A, B, A in quick succession are three taps, because a
  reader can only see one card at a time and going back to A means A was presented again.

Default window 1.0 s: longer than the gap between repeats of every reader here (RDM6300 about 0.1 s,
PN532 polling 0.05-1 s), short enough that a student tapping twice on purpose is heard.
"""

from __future__ import annotations

DEFAULT_WINDOW = 1.0


class RepeatSuppressor:
    """Pure filter of card sightings into taps (see the module docstring)."""

    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        if window < 0:
            raise ValueError("the repeat window cannot be negative")
        self.window = window
        self._card: str | None = None
        self._seen_at = 0.0

    def is_new_tap(self, card: str, now: float) -> bool:
        """Record a sighting of ``card`` at ``now``; True if it is a new tap."""
        repeat = card == self._card and now - self._seen_at < self.window
        self._card, self._seen_at = card, now
        return not repeat

    def reset(self) -> None:
        """Forget the last card (e.g. after the reader was unplugged)."""
        self._card = None
