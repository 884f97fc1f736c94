"""Repeated reads of the same students by the same person, told apart from new ones (pure but for the clock).

A dashboard polls: the gateway's every 2 s, central's every 30 s. Auditing each poll of an unchanged alert
list would write tens of thousands of identical rows a day per open screen and bury the reads that matter.
A read is audited when the person, the route or the set of students shown changes, and again once the
window has passed, so "who saw student X, and when" keeps its answer to within the window (10 minutes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

WINDOW_S = 600.0
CAPACITY = 10_000  # distinct (person, route, students) kept; beyond it the memory starts over (audits again)


class RecentReads:
    """Which reads were audited within the window."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._window, self._clock = window_s, clock
        self._seen: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def is_new(self, key: Hashable) -> bool:
        """Whether a read described by ``key`` must be audited now (and remember that it was)."""
        now = self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self._window:
                return False
            if len(self._seen) >= CAPACITY:
                self._seen.clear()
            self._seen[key] = now
            return True
