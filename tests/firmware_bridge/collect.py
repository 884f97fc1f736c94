"""A thread-safe event sink for runtime tests: collects events and waits for conditions on them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from firmware_bridge.readings import CardRead, MeasurementRead, RuntimeEvent


class Collector:
    """Callable that records every event; ``wait_for`` blocks until a predicate over them holds."""

    def __init__(self) -> None:
        self.events: list[RuntimeEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: RuntimeEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[RuntimeEvent]], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def of(self, kind: type) -> list:
        with self._changed:
            return [e for e in self.events if isinstance(e, kind)]

    def cards(self) -> list[str]:
        return [e.card for e in self.of(CardRead)]

    def codes(self) -> list[str]:
        return [e.code for e in self.of(MeasurementRead)]


def count(kind: type, at_least: int = 1) -> Callable[[list[RuntimeEvent]], bool]:
    return lambda events: sum(isinstance(e, kind) for e in events) >= at_least
