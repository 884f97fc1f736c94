"""The kiosk's runtime without a screen: reader → controller → outbox → link, and feedback out.

The order in ``handle_card`` is the promise of the product: the event is durable in the outbox *before*
the feedback is produced, so a student who saw "welcome" has been recorded, whatever happens next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import onestop
from kiosk.controller import Decision, TapController
from kiosk.settings import KioskSettings
from onestop.device_link import DeviceLink
from onestop.events import Envelope
from onestop.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tap:
    """What one tap did: the decision shown, and the event recorded (if any)."""

    decision: Decision
    event: Envelope | None


class KioskRuntime:
    """One kiosk's moving parts, usable headless or under the Kivy UI."""

    def __init__(self, settings: KioskSettings, on_feedback: Callable[[Decision], None] | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(settings.outbox_path, settings.device)
        self.controller = TapController(settings.space, settings.capacity)
        self._lock = threading.Lock()
        self._on_feedback = on_feedback
        self.link = DeviceLink(settings.broker, settings.site, self.outbox, kind=settings.mode,
                               fw=onestop.__version__, heartbeat_s=settings.heartbeat_s,
                               on_occupancy=self._occupancy)

    def _occupancy(self, body: dict) -> None:
        if body.get("space") == self.settings.space and isinstance(body.get("count"), int):
            with self._lock:
                self.controller.occupancy_update(body["count"])

    def handle_card(self, card: str) -> Tap:
        """A card was read: decide, record durably, then give feedback."""
        event = None
        with self._lock:
            decision = self.controller.tap(card)
            if decision.event_type and decision.data is not None:
                event = self.outbox.append(decision.event_type, decision.data)
        self.link.notify()
        log.info("tap at %s: %s", self.settings.device, decision.feedback)  # never the card number
        if self._on_feedback:
            self._on_feedback(decision)
        return Tap(decision, event)

    def start(self) -> None:
        """Connect and start publishing."""
        self.link.start()

    def stop(self) -> None:
        """Disconnect; unpublished events stay in the outbox for next time."""
        self.link.stop()
        self.outbox.close()
