"""The kiosk's moving parts without a screen: reader → controller → outbox → link, and feedback out.

The order in ``handle_card`` is the promise of the product: the event is durable in the outbox *before*
the feedback is produced, so a student who saw "welcome" has been recorded, whatever happens next. The same
holds for a screening: its record is in the outbox before the results appear.

Every append to the outbox wakes the link's publisher (``Outbox.appended``); nothing here has to tell it.

Threads: card readers and devices call in from their own threads, the MQTT link from paho's, the screen
from Kivy's. One lock serialises every decision; listeners are told *after* it is released, with a short
``kind`` ("feedback", "session", "config", "occupancy", "fault", "device") and a payload, and must hand the
work to their own thread (the Kivy app schedules it on its clock). What the screen reads of the shared
state (``faults``, ``device_states``) it gets as copies taken under that lock. A ticker thread, every
second, writes events the outbox could not take (``NotRecordedError``: retry, kiosk/errors.py) and applies
a health station's privacy time-out.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import onestop
from device.link import DeviceLink
from device.outbox import Outbox
from kiosk.config import RequestStatus, StationConfig, merge_sections
from kiosk.controller import (
    FEEDBACK_QUESTION,
    REQUEST_WAIT_S,
    Authority,
    Decision,
    FeedbackAsk,
    RequestDraft,
    TapController,
    feedback_decision,
    feedback_due,
    own_requests,
    request_decision,
)
from kiosk.devices import DeviceHub
from kiosk.errors import NotRecordedError, recording_failed
from kiosk.health import HealthSession
from kiosk.i18n import CONSENT_VERSION
from kiosk.presence import PresenceStore
from kiosk.questionnaires import Instrument
from kiosk.settings import KioskSettings
from onestop import presence as tags
from onestop.errors import ConfigError
from onestop.events import Envelope, Measurement, ScreeningData
from onestop.files import private_dir
from onestop.ids import CARD_RE
from onestop.payloads import SpacePresence
from sealing import open_data_key

log = logging.getLogger(__name__)

Listener = Callable[[str, Any], None]
MAX_UNWRITTEN = 1000  # events kept in memory while the outbox cannot write (a day of a busy station's faults)


@dataclass(frozen=True, slots=True)
class Tap:
    """What one tap did: the decision shown, and the event recorded (if any)."""

    decision: Decision
    event: Envelope | None


class KioskRuntime:
    """One kiosk's or health station's moving parts, usable headless or under the Kivy UI."""

    def __init__(self, settings: KioskSettings, on_feedback: Callable[[Decision], None] | None = None) -> None:
        self.settings = settings
        private_dir(settings.data_dir)
        sealer = open_data_key(settings.data_key, settings.data_dir)
        self.outbox = Outbox(settings.outbox_path, settings.device, sealer)
        self.presence = PresenceStore(settings.presence_path, sealer)
        self._base = StationConfig(space=settings.space, capacity=settings.capacity,
                                   display_name=settings.display_name, thresholds=settings.health.thresholds)
        self.config = self._base
        self.controller = TapController(settings.space, settings.capacity, config=self._base,
                                        inside=self.presence.load(settings.space))
        self.session = HealthSession(settings.health.thresholds, idle_timeout_s=settings.health.idle_timeout_s,
                                     results_timeout_s=settings.health.results_timeout_s)
        self.occupancy: dict[str, Any] | None = None
        self.request: RequestDraft | None = None  # a chosen request category waiting for a card (work orders)
        self.lookup_since: float | None = None  # "My requests" pressed: the next tap shows that card's requests
        self.question: FeedbackAsk | None = None  # the feedback question on screen (no card), docs/work-orders.md
        self._checkouts = 0  # checkouts recorded since the feedback question was last asked
        self._faults: dict[str, str] = {}  # component -> error, while it lasts
        self._device_states: dict[str, str] = {}  # health device -> its last status ("finger-out", ...)
        self.devices: DeviceHub | None = None
        self.not_recorded = 0  # taps refused because the outbox could not record them (sent in heartbeats)
        self._unwritten: list[tuple[str, dict[str, Any] | ScreeningData]] = []  # retried by the ticker
        self.records_lost = 0  # events dropped because too many already waited for the outbox
        self.tick_failures = 0
        self.presence_refused = 0  # presence messages that did not validate (sent in heartbeats)
        self._latest_presence: SpacePresence | None = None  # the gateway's last copy, until the key fits
        self.cfg_sections_refused = 0  # cfg messages with a section that did not validate (sent in heartbeats)
        self._load_authority(settings.space)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        if on_feedback:
            self._listeners.append(lambda kind, payload: on_feedback(payload) if kind == "feedback" else None)
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self.link = DeviceLink(settings.broker, settings.site, self.outbox, kind=settings.mode,
                               fw=onestop.__version__, heartbeat_s=settings.heartbeat_s,
                               on_config=self._config, on_occupancy=self._occupancy, on_presence=self._presence,
                               counters=lambda: {"taps_not_recorded": self.not_recorded,
                                                 "presence_refused": self.presence_refused,
                                                 "cards_refused": sum(self.controller.refused.values()),
                                                 "cfg_sections_refused": self.cfg_sections_refused,
                                                 # what fails now: the gateway closes work orders of the rest
                                                 "faults": ",".join(sorted(self.faults))[:500]})

    @property
    def health_station(self) -> bool:
        return self.settings.mode == "health-station"

    # Reader and device threads change these while the screen draws from Kivy's thread: the screen gets a
    # copy taken under the lock, never the live dict ("dictionary changed size during iteration").
    @property
    def faults(self) -> dict[str, str]:
        """A snapshot of the current faults: component -> error."""
        with self._lock:
            return dict(self._faults)

    @property
    def device_states(self) -> dict[str, str]:
        """A snapshot of the health devices' last statuses: component -> status."""
        with self._lock:
            return dict(self._device_states)

    # -- listeners ---------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(kind, payload)`` on every change (from any thread)."""
        self._listeners.append(listener)

    def _tell(self, kind: str, payload: Any = None) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:  # a broken screen must not stop taps from being recorded
                log.exception("listener failed on %s", kind)

    # -- taps --------------------------------------------------------------------------------------------
    def handle_card(self, card: str, now: datetime | None = None) -> Tap:
        """A card was read: decide, record durably, then give feedback (the reader's thread calls this)."""
        with self._lock:
            requesting = self._live_request(time.monotonic()) is not None
            looking = self._live_lookup(time.monotonic())
        if requesting:
            return self.send_request(card)
        if looking:
            self.show_requests(card)
            return Tap(Decision("identified"), None)
        if self.health_station:
            return self._identify(card)
        now = now or datetime.now(UTC)
        event = None
        with self._lock:
            controller = self.controller
            decision = controller.decide(card, now)
            if decision.event_type and decision.data is not None:
                try:
                    event = self._append(decision.event_type, decision.data)  # wakes the link's publisher
                except NotRecordedError as exc:  # retry: believe nothing, ask the student to tap again
                    self.not_recorded += 1
                    log.error("tap at %s NOT recorded (%s); the student is asked to retry", self.settings.device, exc)
                    decision = Decision("not-recorded")
            if decision.feedback != "not-recorded":
                # Only what the outbox holds changes who is inside; presence is a cache of it and may lag on failure.
                forgotten = controller.apply(decision, now, event.seq if event else None)
                own = controller.own[-1] if event and decision.event_type in ("checkin", "checkout") else None
                try:
                    self.presence.record(controller.space, forgotten, own, controller.inside.get(card))
                except sqlite3.Error as exc:
                    log.warning("presence cache at %s not updated (%s); the event is recorded", self.settings.device,
                                exc)
            self.question = None  # a new tap: whatever was asked of the previous student goes away
            if event is not None and decision.event_type == "checkout":
                self._maybe_ask(card, now)
            question = self.question
        log.info("tap at %s: %s", self.settings.device, decision.feedback)  # never the card number
        self._tell("feedback", decision)
        if question is not None:
            self._tell("question", question)
        return Tap(decision, event)

    # -- feedback (docs/work-orders.md, "Feedback") -----------------------------------------------------------
    def _maybe_ask(self, card: str, now: datetime) -> None:
        """After a recorded checkout (under the lock): ask the question now and then, a card once a week."""
        self._checkouts += 1
        try:
            if not feedback_due(self.settings.feedback_every, self._checkouts, self.presence.feedback_asked_at(card),
                                now):
                return
            self.presence.feedback_asked(card, now)
        except sqlite3.Error as exc:  # nothing to ask rather than asking a card twice
            log.warning("feedback record at %s unavailable (%s); not asking", self.settings.device, exc)
            return
        self._checkouts = 0
        self.question = FeedbackAsk(self.controller.space, FEEDBACK_QUESTION, time.monotonic())

    def answer_feedback(self, rating: int) -> Tap:
        """The student rated the space 1..5: recorded through the outbox as an anonymous ``feedback`` event."""
        event = None
        with self._lock:
            ask = self._live_question(time.monotonic())
            if ask is None:
                return Tap(Decision("not-recorded"), None)
            decision = feedback_decision(ask, rating)
            assert decision.event_type and decision.data is not None
            try:
                event = self._append(decision.event_type, decision.data)
                self.question = None
            except NotRecordedError as exc:
                self.not_recorded += 1
                log.error("feedback at %s NOT recorded (%s)", self.settings.device, exc)
                decision = Decision("not-recorded")
        log.info("feedback at %s: %s", self.settings.device, decision.feedback)  # never the rating or a card
        self._tell("question", None)
        self._tell("feedback", decision)
        return Tap(decision, event)

    def skip_feedback(self) -> None:
        """The student skipped the question: nothing is recorded."""
        with self._lock:
            self.question = None
        self._tell("question", None)

    def _live_question(self, now: float) -> FeedbackAsk | None:
        """The question on screen, dropped once it expired (under the lock)."""
        if self.question is not None and self.question.expired(now):
            self.question = None
        return self.question

    def _identify(self, card: str) -> Tap:
        if not CARD_RE.fullmatch(card or ""):
            decision = Decision("unknown-card")
            self._tell("feedback", decision)
            return Tap(decision, None)
        with self._lock:
            event = self._record(self.session.identify(card, time.monotonic()))
        decision = Decision("identified")
        log.info("health session started at %s", self.settings.device)
        self._tell("feedback", decision)
        self._tell("session")
        return Tap(decision, event)

    # -- requests (work orders, docs/work-orders.md) -------------------------------------------------------
    def choose_request(self, category: str) -> None:
        """The student picked a request category: the next tap (or "anonymous") sends it."""
        with self._lock:
            self.request = RequestDraft(category, time.monotonic())
        self._tell("request", self.request)

    def cancel_request(self) -> None:
        """The student left the request screens without sending."""
        with self._lock:
            self.request, self.lookup_since = None, None
        self._tell("request", None)

    def send_request(self, card: str | None = None) -> Tap:
        """Record the chosen request with ``card`` for a reply, or anonymous; durable before the feedback."""
        event = None
        with self._lock:
            draft = self._live_request(time.monotonic())
            if draft is None:
                return Tap(Decision("not-recorded"), None)
            decision = request_decision(draft, self.controller.space, card)
            if decision.event_type and decision.data is not None:
                try:
                    event = self._append(decision.event_type, decision.data)
                    self.request = None
                except NotRecordedError as exc:
                    self.not_recorded += 1
                    log.error("request at %s NOT recorded (%s); the student is asked to retry",
                              self.settings.device, exc)
                    decision = Decision("not-recorded")
        log.info("request at %s: %s (%s)", self.settings.device, decision.feedback, draft.category)  # no card
        self._tell("feedback", decision)
        return Tap(decision, event)

    def start_lookup(self) -> None:
        """The student pressed "My requests": the next tap shows their card's requests, checks nobody in."""
        with self._lock:
            self.lookup_since = time.monotonic()
        self._tell("requests", None)

    def show_requests(self, card: str) -> list[RequestStatus]:
        """The requests ``card`` made in this building (from the gateway's last cfg), told as ``requests``."""
        with self._lock:
            self.lookup_since = None
            found = own_requests(self.config, card)
        log.info("requests looked up at %s: %d shown", self.settings.device, len(found))  # never the card
        self._tell("requests", found)
        return found

    def _live_lookup(self, now: float) -> bool:
        if self.lookup_since is not None and now - self.lookup_since > REQUEST_WAIT_S:
            self.lookup_since = None
        return self.lookup_since is not None

    def report(self, category: str, card: str | None = None) -> Tap:
        """A whole request at once, no tap in between (the demo's students, scripts)."""
        with self._lock:
            self.choose_request(category)
            return self.send_request(card)

    def _live_request(self, now: float) -> RequestDraft | None:
        """The waiting request, dropped once it expired (under the lock)."""
        if self.request is not None and self.request.expired(now):
            self.request = None
        return self.request

    # -- the health session ------------------------------------------------------------------------------
    def _append(self, event_type: str, data: dict[str, Any] | ScreeningData) -> Envelope:
        try:
            return self.outbox.append(event_type, data)
        except sqlite3.Error as exc:
            raise recording_failed(event_type, self.settings.outbox_path, exc) from exc

    def _append_or_keep(self, event_type: str, data: dict[str, Any] | ScreeningData) -> Envelope | None:
        """Append, or keep the event to write again on the next tick (retry: storage may come back)."""
        if not self._unwritten:
            try:
                return self._append(event_type, data)
            except NotRecordedError as exc:
                if self._stopping.is_set():  # the outbox is closing: no tick will write it again
                    log.warning("%s at %s while stopping", exc, self.settings.device)
                    return None
                log.error("%s at %s; kept in memory, written again every second", exc, self.settings.device)
        if len(self._unwritten) >= MAX_UNWRITTEN:
            self.records_lost += 1
            log.error("%s at %s lost: %d events already wait for the outbox", event_type, self.settings.device,
                      len(self._unwritten))
            return None
        self._unwritten.append((event_type, data))  # after those waiting: the outbox keeps the order
        return None

    def _write_unwritten(self) -> None:
        """Write the kept events in order, until the first that still does not fit (under the lock)."""
        while self._unwritten:
            try:
                self._append(*self._unwritten[0])
            except NotRecordedError:
                return
            event_type, _ = self._unwritten.pop(0)
            log.warning("kept %s at %s now recorded", event_type, self.settings.device)

    def _record(self, record: ScreeningData | None) -> Envelope | None:
        if record is None:
            return None
        event = self._append_or_keep("screening", record)
        log.info("screening recorded at %s (complete=%s, %d measurements, %d questionnaires)",
                 self.settings.device, record.complete, len(record.measurements), len(record.questionnaires))
        return event

    def _session(self, action: Callable[[float], ScreeningData | None | object]) -> Envelope | None:
        with self._lock:
            result = action(time.monotonic())
            event = self._record(result) if isinstance(result, ScreeningData) else None
        self._tell("session")
        return event

    def measurement(self, measurement: Measurement) -> bool:
        """A device reported a value (from a device thread)."""
        with self._lock:
            taken = self.session.measure(measurement, time.monotonic())
        if taken:
            self._tell("session")
        return taken

    def touch(self) -> None:
        """Someone touched the screen or a device reported a status: they are still here."""
        with self._lock:
            self.session.touch(time.monotonic())

    def accept_consent(self) -> None:
        """The student agreed to the consent text on screen: measuring may begin (the time is wall-clock UTC)."""
        self._session(lambda now: self.session.accept(CONSENT_VERSION, datetime.now(UTC), now))

    def decline_consent(self) -> None:
        """The student declined: nothing is recorded and the station resets."""
        self._session(self.session.decline)
        log.info("consent declined at %s; nothing recorded", self.settings.device)

    def enter_height(self, height_cm: float) -> None:
        """The student typed their height."""
        self._session(lambda now: self.session.enter_height(height_cm, now))

    def begin(self, instrument: Instrument) -> None:
        """Start a questionnaire."""
        self._session(lambda now: self.session.begin(instrument, now))

    def answer(self, value: int) -> Envelope | None:
        """Answer the questionnaire item on screen (PHQ-9 item 9 above 0 is recorded and sent at once)."""
        return self._session(lambda now: self.session.answer(value, now))

    def back(self) -> None:
        """Previous questionnaire item (or leave the questionnaire)."""
        self._session(lambda now: self.session.back(now))

    def finish(self) -> Envelope | None:
        """Show the results; the complete record is in the outbox first."""
        return self._session(self.session.finish)

    def done(self) -> None:
        """Close the results."""
        self._session(self.session.done)

    def cancel(self) -> Envelope | None:
        """Leave the session before the results (what was measured is recorded as incomplete)."""
        return self._session(self.session.cancel)

    def tick(self, now: float | None = None) -> Envelope | None:
        """Write kept events, apply the privacy time-out (called every second by a background thread)."""
        with self._lock:
            self._write_unwritten()
            dropped = self.request is not None and self._live_request(time.monotonic()) is None
            unasked = self.question is not None and self._live_question(time.monotonic()) is None
            before = self.session.phase
            event = self._record(self.session.tick(time.monotonic() if now is None else now))
            changed = self.session.phase != before
        if changed:
            self._tell("session")
        if dropped:
            self._tell("request", None)
        if unasked:
            self._tell("question", None)
        return event

    # -- devices -----------------------------------------------------------------------------------------
    def device_status(self, component: str, status: str | None) -> None:
        """A health device reported a state that is not a reading (someone is using it); None clears it."""
        with self._lock:
            if status is None:
                if self._device_states.pop(component, None) is None:
                    return
            else:
                self._device_states[component] = status
            self.session.touch(time.monotonic())
            states = dict(self._device_states)
        self._tell("device", states)

    def fault(self, component: str, error: str) -> None:
        """A reader or device stopped working: record a ``fault`` event once per outage, and show it."""
        with self._lock:
            if self._faults.get(component) == error:
                return
            self._faults[component] = error
            faults = dict(self._faults)
            self._append_or_keep("fault", {"component": component, "error": error[:500]})
        log.warning("%s not working: %s (retrying)", component, error[:500])  # once per outage, as the event
        self._tell("fault", faults)

    def restored(self, component: str) -> None:
        """A reader or device works again."""
        with self._lock:
            if self._faults.pop(component, None) is None:
                return
            faults = dict(self._faults)
        log.warning("%s works again", component)
        self.link.heartbeat_now()  # its "faults" tell the gateway at once (the work order closes)
        self._tell("fault", faults)

    # -- the gateway -------------------------------------------------------------------------------------
    def _config(self, body: dict) -> None:
        try:
            config, refused = merge_sections(self._base, body)
        except ConfigError as exc:
            log.warning("cfg refused, keeping the last good one: %s", "; ".join(exc.problems))
            return
        if refused:  # the rest of the message applies; these sections keep their local value
            self.cfg_sections_refused += 1
            log.warning("cfg sections refused, keeping their local values: %s", "; ".join(refused))
        self.apply_config(config)

    def apply_config(self, config: StationConfig) -> None:
        """Make ``config`` the effective configuration (from cfg, or directly in tests and the demo)."""
        with self._lock:
            moved = config.space != self.controller.space
            if moved:
                self.controller.inside = self.presence.load(config.space)
                self.occupancy = None
            self.controller.configure(config)
            self.session.thresholds = config.thresholds
            self.config = config
            if moved:
                self._load_authority(config.space)
            self._adopt()
        self._tell("config", config)

    # -- the gateway's presence for this space -----------------------------------------------------------
    def _load_authority(self, space: str) -> None:
        """The last good presence copy kept on disk, and own taps since: the kiosk decides from them offline."""
        self.controller.own = self.presence.load_own(space)
        kept = self.presence.load_authority(space)
        if kept is None:
            return
        try:
            message = SpacePresence.model_validate_json(kept[1])
            self.controller.set_authority(Authority(bytes.fromhex(kept[0]), tags.decode(message.inside),
                                                    message.upto.get(self.settings.device, 0), message.ts,
                                                    message.truncated))
        except ValueError as exc:
            log.warning("kept presence copy of %s unreadable (%s); deciding from own taps until the next one",
                        space, exc.__class__.__name__)

    def _presence(self, body: dict) -> None:
        if body.get("space") != self.controller.space:
            return
        try:
            message = SpacePresence.model_validate(body)
            tags.decode(message.inside)
        except ValueError as exc:  # never the body: it is opaque, but bounded logs say what, not the content
            self.presence_refused += 1
            log.warning("presence message for %s refused (%s); keeping the last good copy", body.get("space"),
                        exc.__class__.__name__)
            return
        with self._lock:
            self._latest_presence = message
            self._adopt()

    def _adopt(self) -> None:
        """Use the latest presence copy once this kiosk holds the key it was made with (under the lock)."""
        message, key = self._latest_presence, self.config.presence_key
        if message is None or key is None or message.space != self.controller.space:
            return
        if tags.key_id(bytes.fromhex(key)) != message.key_id:
            log.info("presence of %s made with another key (being rotated); waiting for the matching one",
                     message.space)
            return
        current = self.controller.authority
        if current is not None and current.ts > message.ts:
            return
        upto = message.upto.get(self.settings.device, 0)
        forgotten = self.controller.set_authority(Authority(bytes.fromhex(key), tags.decode(message.inside), upto,
                                                            message.ts, message.truncated))
        try:
            self.presence.save_authority(message.space, key, message.model_dump_json())
            self.presence.prune_own(message.space, upto)
            self.presence.leave(message.space, forgotten)
        except sqlite3.Error as exc:
            log.warning("presence copy at %s not kept on disk (%s)", self.settings.device, exc)

    def _occupancy(self, body: dict) -> None:
        if body.get("space") != self.controller.space or not isinstance(body.get("count"), int):
            return
        with self._lock:
            self.controller.occupancy_update(body["count"])
            if self.controller.capacity is None and isinstance(body.get("capacity"), int):
                self.controller.capacity = body["capacity"]
            self.occupancy = body
        self._tell("occupancy", body)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect, start publishing, open the serial devices and start the privacy time-out clock."""
        self.link.start()
        self.devices = DeviceHub(self.settings.reader,
                                 self.settings.health.devices if self.health_station else (), self)
        self.devices.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="ticker", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        while not self._stopping.wait(1.0):
            try:
                self.tick()
            except Exception:  # the privacy time-out must outlive any one failure: count, log, tick on
                self.tick_failures += 1
                log.exception("tick failed at %s", self.settings.device)

    def stop(self) -> None:
        """Disconnect; unpublished events stay in the outbox for next time."""
        self._stopping.set()
        if self.devices:
            self.devices.stop()
        if self._ticker:
            self._ticker.join(5)
        with self._lock:  # a last try for events kept while the outbox could not write
            self._write_unwritten()
            if self._unwritten:
                log.error("%d events at %s not recorded: the outbox could not write them before stop",
                          len(self._unwritten), self.settings.device)
        self.link.stop()
        self.outbox.close()
        self.presence.close()
