"""The Kivy application: which screen shows when, the language switch, and the bridge from runtime threads.

Which screen: a tap's feedback for ``feedback_s`` seconds; otherwise, on a health station, the session's
phase (idle, consent, measuring — or the height keypad —, questionnaire, results); on a kiosk, idle. The language
goes back to the configured one whenever a student is done (feedback over, session back to idle), so the
next person starts from the default.

Runtime listeners are called on reader, paho and ticker threads; ``_heard`` only schedules work on Kivy's
clock (``mainthread``), and every widget is touched on the main thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock, mainthread
from kivy.core.window import Window
from kivy.uix.screenmanager import NoTransition, ScreenManager

from kiosk.controller import REQUEST_WAIT_S, Decision
from kiosk.i18n import find_cjk_font, tr
from kiosk.runtime import KioskRuntime
from kiosk.ui.feedback_screen import RateSpaceScreen
from kiosk.ui.health_screens import ConsentScreen, HealthScreen, HeightScreen, QuestionScreen
from kiosk.ui.kiosk_screens import FeedbackScreen, IdleScreen
from kiosk.ui.request_screens import LookupScreen, MyRequestsScreen, RequestCardScreen, RequestCategoriesScreen
from kiosk.ui.results_screen import ResultsScreen
from kiosk.ui.widgets import Style, find_button, refresh_textures, texts

log = logging.getLogger(__name__)


class KioskApp(App):
    """One kiosk's or health station's screen."""

    def __init__(self, runtime: KioskRuntime, *, language: str | None = None,
                 on_ready: Callable[[KioskApp], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = runtime
        screen = runtime.settings.screen
        self.default_lang = language or screen.language
        self.font: Path | None = find_cjk_font(screen.font)
        if self.font is None and self.default_lang == "zh":
            self.default_lang = "en"
        self.lang = self.default_lang
        self.title = f"onestop {runtime.settings.device}"
        self.style = Style(self.font)
        self._feedback_until = 0.0
        self._feedback_event: Any = None
        self._keypad = False
        self._requests_view: str | None = None  # "request-categories", "lookup" or "my-requests" (work orders)
        self._requests_until = 0.0
        self._polled: tuple[object, ...] = ()
        self._on_ready = on_ready
        self.manager: ScreenManager | None = None

    # -- Kivy ------------------------------------------------------------------------------------------
    def build(self) -> ScreenManager:
        self.style = Style.for_window(*Window.size, font=self.font)
        self.manager = ScreenManager(transition=NoTransition())
        for screen in (IdleScreen(name="idle"), FeedbackScreen(name="feedback"), ConsentScreen(name="consent"),
                       HealthScreen(name="health"),
                       HeightScreen(name="height"), QuestionScreen(name="question"), ResultsScreen(name="results"),
                       RequestCategoriesScreen(name="request-categories"), RequestCardScreen(name="request-card"),
                       LookupScreen(name="lookup"), MyRequestsScreen(name="my-requests"),
                       RateSpaceScreen(name="rate-space")):
            self.manager.add_widget(screen)
        self.runtime.subscribe(self._heard)
        Window.bind(on_touch_down=self._touched, size=self._resized)
        Clock.schedule_interval(self._poll, 0.5)
        self.show()
        if self._on_ready:
            Clock.schedule_once(lambda _dt: self._on_ready(self), 0)  # type: ignore[misc]
        return self.manager

    def _resized(self, _window: Any, size: tuple[int, int]) -> None:
        self.style = Style.for_window(*size, font=self.font)
        self.show()

    def _touched(self, *_: Any) -> bool:
        self.runtime.touch()  # someone is here: restart the privacy time-out
        return False  # let the touch reach the widgets

    # -- state → screen --------------------------------------------------------------------------------
    def _heard(self, kind: str, payload: Any) -> None:
        self._on_change(kind, payload)

    @mainthread
    def _on_change(self, kind: str, payload: Any) -> None:
        if kind == "feedback" and isinstance(payload, Decision):
            self._feedback(payload)
            if payload.event_type == "request" or self._requests_view == "request-categories":
                self._requests_view = None
        elif kind == "request":
            self._requests_view = None  # a category was chosen (the card screen follows) or it was dropped
            if payload is None:
                self.lang = self.default_lang
        elif kind == "requests":
            found = payload if isinstance(payload, list) else None
            if found is not None:
                self.manager.get_screen("my-requests").found = found  # type: ignore[union-attr]
            self._open_view("lookup" if found is None else "my-requests")
        elif kind == "session" and self.runtime.session.phase == "idle":
            self._keypad = False
            self.lang = self.default_lang
        self.show()

    def _feedback(self, decision: Decision) -> None:
        if self.runtime.health_station and decision.feedback == "identified":
            self._feedback_until = 0.0  # the hub itself is the answer to a health-station tap
            return
        seconds = self.runtime.settings.screen.feedback_s
        self._feedback_until = time.monotonic() + seconds
        feedback = self.manager.get_screen("feedback")  # type: ignore[union-attr]
        feedback.decision = decision  # type: ignore[attr-defined]
        if self._feedback_event is not None:
            self._feedback_event.cancel()
        self._feedback_event = Clock.schedule_once(self._feedback_over, seconds)

    def _feedback_over(self, _dt: float) -> None:
        self._feedback_until = 0.0
        self._feedback_event = None
        if not self.runtime.health_station or self.runtime.session.phase == "idle":
            self.lang = self.default_lang
        self.show()

    def screen_name(self) -> str:
        """The screen the state calls for."""
        if self.runtime.question is not None:  # the goodbye comes with the feedback question
            return "rate-space"
        if time.monotonic() < self._feedback_until:
            return "feedback"
        if self.runtime.request is not None:
            return "request-card"
        if self._requests_view and time.monotonic() < self._requests_until:
            return self._requests_view
        if not self.runtime.health_station:
            return "idle"
        phase = self.runtime.session.phase
        if phase == "measuring":
            return "height" if self._keypad else "health"
        return {"consent": "consent", "questionnaire": "question", "results": "results"}.get(phase, "idle")

    def show(self) -> None:
        """Draw the screen the state calls for."""
        if self.manager is None:
            return
        name = self.screen_name()
        screen = self.manager.get_screen(name)
        screen.render(self)  # type: ignore[attr-defined]
        self.manager.current = name

    def _poll(self, _dt: float) -> None:
        # The countdown and the offline line change without an event: redraw when what they say changes.
        remaining = self.remaining()
        signature = (self.screen_name(), self.runtime.link.connected,
                     None if remaining is None or remaining > 20 else int(remaining))
        if signature != self._polled:
            self._polled = signature
            self.show()

    # -- requests (work orders) ------------------------------------------------------------------------
    def _open_view(self, view: str) -> None:
        self._requests_view, self._requests_until = view, time.monotonic() + REQUEST_WAIT_S
        self.runtime.touch()
        self.show()

    def open_requests(self) -> None:
        """Tap 1: "Report a problem / request a service"."""
        self._open_view("request-categories")

    def choose_request(self, category: str) -> None:
        """Tap 2: the category; the card screen follows (the runtime holds the draft)."""
        self.runtime.choose_request(category)

    def send_anonymous(self) -> None:
        """Tap 3 without a card."""
        self.runtime.send_request(None)

    def open_lookup(self) -> None:
        """"My requests": the next tap shows that card's requests."""
        self.runtime.start_lookup()

    def close_requests(self) -> None:
        """Cancel or OK on a request screen: back to idle, in the default language."""
        self._requests_view = None
        self.runtime.cancel_request()
        self.lang = self.default_lang
        self.show()

    # -- used by the screens ---------------------------------------------------------------------------
    def tr(self, key: str, **values: object) -> str:
        """Text in the current language."""
        return tr(key, self.lang, **values)

    def toggle_language(self) -> None:
        """Switch between English and Chinese."""
        self.lang = "zh" if self.lang == "en" else "en"
        self.runtime.touch()
        self.show()

    def remaining(self) -> float | None:
        """Seconds until the privacy time-out clears the screen."""
        return self.runtime.session.remaining(time.monotonic())

    def open_keypad(self) -> None:
        """Show the height keypad."""
        self._keypad = True
        height = self.manager.get_screen("height")  # type: ignore[union-attr]
        height.typed, height.error = "", False  # type: ignore[attr-defined]
        self.runtime.touch()
        self.show()

    def close_keypad(self) -> None:
        """Back to the hub."""
        self._keypad = False
        self.show()

    # -- for tests, the demo and screenshots -----------------------------------------------------------
    def visible_texts(self) -> list[str]:
        """Every text on the current screen."""
        return texts(self.manager.current_screen) if self.manager else []

    def press(self, text: str) -> bool:
        """Press the enabled button showing ``text``; False when there is none."""
        found = find_button(self.manager.current_screen, text) if self.manager else None
        if found is None:
            return False
        found.dispatch("on_release")
        return True

    def screenshot(self, path: str | Path) -> Path:
        """Save the current screen as PNG."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        refresh_textures(self.manager)  # type: ignore[arg-type]
        self.manager.export_to_png(str(target))  # type: ignore[union-attr]
        return target
