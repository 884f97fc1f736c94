"""The tap screens: idle (where am I, how full is it, tap your card) and the feedback after a tap.

Screens are redrawn whole from the runtime's state on every change (``render``): there is little on them,
a redraw takes a few milliseconds, and a screen that is a function of the state cannot drift from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.progressbar import ProgressBar
from kivy.uix.screenmanager import Screen

from kiosk.controller import Decision
from kiosk.ui.widgets import BACKGROUND, BAD, FEEDBACK_COLOURS, MUTED, NEUTRAL, WARN, Filled, button, label, spacer

if TYPE_CHECKING:
    from kiosk.app import KioskApp


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
        if not runtime.health_station and not runtime.config.attendance:
            self._occupancy(app, root)
        root.add_widget(spacer())
        status = status_line(app)
        colour = BAD if "card-reader" in runtime.faults else WARN
        root.add_widget(label(s, status, 18, colour=colour, size_hint_y=None, height=s.px(28)))
        self.add_widget(root)

    def _occupancy(self, app: KioskApp, root: BoxLayout) -> None:
        s, controller = app.style, app.runtime.controller
        count, capacity = controller.count, controller.capacity
        if capacity:
            text = app.tr("occupancy", count=count, capacity=capacity)
        else:
            text = app.tr("occupancy_open", count=count)
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
