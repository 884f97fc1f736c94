"""The reconnect loop shared by the I/O shells (serial port, evdev): open, pump, and on failure back off.

    start() ──▶ open ──ok──▶ pump (read, feed, write, deliver) ──stop()──▶ closed
                 │  fails            │ fails (unplugged)
                 ▼                   ▼
          PortFault (once per outage), wait (onestop/backoff.py: doubling, capped), open again ...
          PortRestored when an open succeeds after a fault

Events are delivered on the reader's own thread. A callback that raises is logged and counted, never
allowed to kill the reader. Card reads go to ``on_card(card)`` when one is given (the kiosk's tap, straight
to its runtime), else to ``on_event`` like everything else.

A card held on the reader is one tap. Readers repeat themselves: an RDM6300 sends its frame about ten times
a second while the card stays in the field, a polled PN532 finds the same card on every poll. So:
- the same card seen again within ``repeat_window`` seconds of its *last sighting* is the same tap, so a
  card held for a minute is one tap, and lifting it and tapping again after the window is a second tap;
- a different card is a new tap at once (the previous card's window does not delay it);
- the window follows only the most recent card: A, B, A in quick succession are three taps, because a
  reader can only see one card at a time and going back to A means A was presented again;
- an unplugged reader forgets its last card.
Default window 1.0 s: longer than the gap between repeats of every reader here (RDM6300 about 0.1 s,
PN532 polling 0.05-1 s), short enough that a student tapping twice on purpose is heard; 0 passes every read.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from typing import Any

from firmware_bridge.errors import PortError
from firmware_bridge.readings import CardRead, FrameRejected, PortFault, PortRestored, RuntimeEvent
from onestop.backoff import Backoff

log = logging.getLogger(__name__)

EventCallback = Callable[[RuntimeEvent], None]
CardCallback = Callable[[str], object]
DEFAULT_WINDOW = 1.0  # seconds: the same card again within it is the same tap (see the module docstring)


class ReconnectingReader(ABC):
    """A background reader that survives its device going away; subclasses do the actual I/O."""

    def __init__(
        self,
        name: str,
        on_event: EventCallback,
        *,
        on_card: CardCallback | None = None,
        repeat_window: float = DEFAULT_WINDOW,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if repeat_window < 0:
            raise ValueError("the repeat window cannot be negative")
        self.name = name
        self._on_event = on_event
        self._on_card = on_card
        self.repeat_window = repeat_window
        self._last_card: str | None = None  # the most recent card sighting, and when (repeat suppression)
        self._last_seen = 0.0
        self._backoff = Backoff(retry_initial, retry_max)
        self._clock = clock
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats: Counter[str] = Counter()

    # -- public ----------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the device is open and being read."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the device is open (or ``timeout`` seconds pass); True if it is."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Start reading on a background thread."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: already started")
        self._thread = threading.Thread(target=self._run, name=f"reader {self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop reading and close the device; waits up to ``timeout`` seconds for the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s: reader thread did not stop within %.1f s", self.name, timeout)

    def __enter__(self) -> ReconnectingReader:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- for subclasses ----------------------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> Any:
        """Open the device; raise ``PortError`` when it cannot be opened."""

    @abstractmethod
    def _pump(self, handle: Any) -> None:
        """Read and deliver until ``self._stopping`` is set; raise ``PortError`` when the device fails."""

    @abstractmethod
    def _close(self, handle: Any) -> None:
        """Close the device, ignoring errors (it may be gone already)."""

    def _deliver(self, event: RuntimeEvent) -> None:
        """Hand one event to its callback, a card read only if it is a new tap; count it."""
        if isinstance(event, CardRead):
            now = self._clock()
            held = event.card == self._last_card and now - self._last_seen < self.repeat_window
            self._last_card, self._last_seen = event.card, now
            if held:
                self.stats["card-repeats"] += 1
                return
        elif isinstance(event, FrameRejected):
            self.stats[f"rejected:{event.reason}"] += 1
        self.stats[type(event).__name__] += 1
        try:
            if self._on_card is not None and isinstance(event, CardRead):
                self._on_card(event.card)
            else:
                self._on_event(event)
        except Exception:  # the callback is someone else's code: log it, keep reading
            self.stats["callback-errors"] += 1
            log.exception("%s: event callback failed", self.name)

    # -- the loop ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        faulted = False
        while not self._stopping.is_set():
            try:
                handle = self._open()
            except PortError as exc:
                if not faulted:
                    faulted = True
                    self._deliver(PortFault(self.name, str(exc)))
                self._stopping.wait(self._backoff.next_delay())
                continue
            self._backoff.reset()
            if faulted:
                faulted = False
                self._deliver(PortRestored(self.name))
            self._connected.set()
            try:
                self._pump(handle)
            except PortError as exc:
                faulted = True
                self._last_card = None  # a card seen after the replug is a new tap
                self._deliver(PortFault(self.name, str(exc)))
                log.warning("%s: %s", self.name, exc)
            finally:
                self._connected.clear()
                self._close(handle)
            if faulted:
                self._stopping.wait(self._backoff.next_delay())
