"""A round of work repeated on a daemon thread until stopped: the notifiers' and central's retention loop.

The first round runs one interval after ``start`` (after ``before``, if given). A failed round is logged
and counted (``failures``) and the next one runs as usual: the thread must outlive a database hiccup. Our
typed errors (``OnestopError``: a full disk, a locked database) are one line; anything else a traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from onestop.errors import OnestopError

log = logging.getLogger(__name__)


class Ticker:
    """Runs ``run`` every ``interval_s`` seconds on a daemon thread named ``name``."""

    def __init__(self, name: str, run: Callable[[], object], interval_s: float, *,
                 before: Callable[[], object] | None = None, join_s: float = 5.0) -> None:
        self.name, self._run, self._interval, self._before, self._join_s = name, run, interval_s, before, join_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the round under way (waiting for it at most ``join_s``)."""
        self._stopping.set()
        if self._thread:
            self._thread.join(self._join_s)

    def _loop(self) -> None:
        if self._before is not None:
            self._before()
        while not self._stopping.wait(self._interval):
            try:
                self._run()
            except OnestopError as exc:
                self.failures += 1
                log.error("%s round failed: %s (%d failures since start)", self.name, exc, self.failures)
            except Exception:  # the loop must outlive anything one round runs into; logged and counted
                self.failures += 1
                log.exception("%s round failed (%d failures since start)", self.name, self.failures)
