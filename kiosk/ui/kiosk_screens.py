"""The tap screens: idle (where am I, is it open, how full is it, tap your card) and the feedback after a tap.

Screens are redrawn whole from the runtime's state on every change (``render``): there is little on them,
a redraw takes a few milliseconds, and a screen that is a function of the state cannot drift from it.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.progressbar import ProgressBar
from kivy.uix.screenmanager import Screen

from kiosk.controller import Decision
from kiosk.ui.widgets import (
    ALERT,
    BACKGROUND,
    BAD_TEXT,
    FEEDBACK_COLOURS,
    MUTED,
    NEUTRAL,
    WARN_TEXT,
    Filled,
    Shield,
    button,
    label,
    spacer,
)
from onestop.site import ALL_DAYS, OpeningHours

if TYPE_CHECKING:
    from kiosk.ui.application import KioskApp


def top_bar(app: KioskApp, title: str, *extra: Any) -> BoxLayout:
    """Title on the left, optional widgets, and the language switch on the right."""
    s = app.style
    bar = BoxLayout(size_hint_y=None, height=s.px(52), spacing=s.px(10))
    bar.add_widget(label(s, title, 26, bold=True, halign="left"))
    for widget in extra:
        bar.add_widget(widget)
    if app.style.font is not None:  # without a CJK font Chinese would be boxes: no switch then
        bar.add_widget(button(s, app.tr("language"), app.toggle_language, colour=NEUTRAL, size=20, height=52,
                              size_hint_x=None, width=s.px(120)))
    return bar


def busy_level(count: int, capacity: int | None) -> str | None:
    """How full the space is, as a word's key: ``quiet``, ``busy``, ``nearly-full``, ``full`` (None: unknown)."""
    if not capacity:
        return None
    share = count / capacity
    if share >= 1:
        return "busy_full"
    return "busy_quiet" if share < 0.5 else "busy_busy" if share < 0.85 else "busy_nearly-full"


def hours_today(app: KioskApp, hours: OpeningHours | None, now: datetime) -> str:
    """Today's opening hours in words ("Open today 07:00–23:00"); empty when the kiosk was not told them."""
    if hours is None:
        return ""
    if ALL_DAYS[now.weekday()] not in hours.days:
        return app.tr("closed_today")
    if hours.open == hours.close:
        return app.tr("open_all_day")
    close = "24:00" if hours.close == time(0, 0) else hours.close.strftime("%H:%M")
    return app.tr("open_today", open=hours.open.strftime("%H:%M"), close=close)


def timeout_warning(app: KioskApp, screen: Screen) -> None:
    """The privacy warning over the screen, large and centred, in the last 20 seconds before it clears."""
    remaining = app.remaining()
    if remaining is None or remaining > 20:
        return
    s = app.style
    box = Shield(ALERT, radius=s.px(14), orientation="vertical", padding=s.px(20), spacing=s.px(10),
                 size_hint=(0.84, None), height=s.px(230), pos_hint={"center_x": 0.5, "center_y": 0.5})
    text = app.tr("timeout_warning", seconds=max(0, int(remaining)))
    box.add_widget(label(s, text, 34, bold=True, colour=BACKGROUND))
    box.add_widget(label(s, app.tr("touch_to_stay"), 24, colour=BACKGROUND, size_hint_y=None, height=s.px(40)))
    screen.add_widget(box)


def status_line(app: KioskApp) -> str:
    """What is wrong with the kiosk right now, in words for a student (empty when all is well)."""
    if "card-reader" in app.runtime.faults:
        return app.tr("reader_fault")
    if not app.runtime.link.connected:
        return app.tr("offline")
    return ""


class IdleScreen(Screen):
    """Waiting for a card: the space, its occupancy, and what to do."""

    def render(self, app: KioskApp) -> None:
        s, runtime = app.style, app.runtime
        self.clear_widgets()
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(20), spacing=s.px(12))
        root.add_widget(top_bar(app, runtime.config.name(app.lang)))
        root.add_widget(spacer())
        prompt = "tap_card_health" if runtime.health_station else "tap_card"
        if runtime.config.attendance and not runtime.health_station:
            root.add_widget(label(s, runtime.config.name(app.lang), 30, colour=MUTED, size_hint_y=None))
        root.add_widget(label(s, app.tr(prompt), 60, bold=True, size_hint_y=None))
        opening = hours_today(app, runtime.config.hours, datetime.now().astimezone())
        if opening:
            root.add_widget(label(s, opening, 24, colour=MUTED, size_hint_y=None))
        if not runtime.health_station and not runtime.config.attendance:
            self._occupancy(app, root)
        root.add_widget(spacer())
        if app.runtime.config.request_categories and not runtime.config.attendance:
            row = BoxLayout(size_hint_y=None, height=s.px(64), spacing=s.px(12))
            row.add_widget(button(s, app.tr("report_problem"), app.open_requests, colour=NEUTRAL))
            row.add_widget(button(s, app.tr("my_requests"), app.open_lookup, colour=NEUTRAL, size_hint_x=None,
                                  width=s.px(220)))
            root.add_widget(row)
        status = status_line(app)
        colour = BAD_TEXT if "card-reader" in runtime.faults else WARN_TEXT
        root.add_widget(label(s, status, 20, colour=colour, size_hint_y=None, height=s.px(28)))
        self.add_widget(root)

    def _occupancy(self, app: KioskApp, root: BoxLayout) -> None:
        s, controller = app.style, app.runtime.controller
        count, capacity = controller.count, controller.capacity
        if capacity:
            text = app.tr("occupancy", count=count, capacity=capacity)
        else:
            text = app.tr("occupancy_open", count=count)
        level = busy_level(count, capacity)
        if level:
            text = f"{app.tr(level)} · {text}"
        root.add_widget(label(s, text, 26, colour=MUTED, size_hint_y=None))
        if capacity:
            box = BoxLayout(size_hint_y=None, height=s.px(18), padding=[s.px(120), 0])
            box.add_widget(ProgressBar(max=capacity, value=min(count, capacity)))
            root.add_widget(box)


class FeedbackScreen(Screen):
    """The answer to a tap, big and coloured, for a few seconds."""

    decision: Decision | None = None

    def render(self, app: KioskApp) -> None:
        s, decision = app.style, self.decision
        self.clear_widgets()
        if decision is None:
            return
        kind = decision.feedback
        root = Filled(FEEDBACK_COLOURS.get(kind, NEUTRAL), orientation="vertical", padding=s.px(30),
                      spacing=s.px(16))
        root.add_widget(spacer())
        root.add_widget(label(s, app.tr(kind), 72, bold=True, size_hint_y=None))
        until = decision.until.astimezone().strftime("%H:%M") if decision.until else ""
        detail = app.tr(f"{kind}_detail", until=until, name=app.runtime.config.name(app.lang))
        root.add_widget(label(s, detail, 32, size_hint_y=None))
        root.add_widget(spacer())
        self.add_widget(root)
