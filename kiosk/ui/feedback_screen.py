"""The feedback question after a checkout (docs/work-orders.md, "Feedback"): one tap or none.

It says goodbye, asks "How do you rate this space today?" with five buttons (1 poor … 5 very good) and
"Skip"; it goes away by itself after ``FEEDBACK_WAIT_S`` seconds. The answer is anonymous: the runtime
records the space, the question and the rating, no card.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from kiosk.ui.kiosk_screens import top_bar
from kiosk.ui.widgets import BACKGROUND, MUTED, NEUTRAL, Filled, button, label, spacer

if TYPE_CHECKING:
    from kiosk.ui.application import KioskApp


class RateSpaceScreen(Screen):
    """Goodbye, and the one optional question: five ratings and "Skip"."""

    def render(self, app: KioskApp) -> None:
        s = app.style
        self.clear_widgets()
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(20), spacing=s.px(12))
        root.add_widget(top_bar(app, app.tr("goodbye")))
        root.add_widget(spacer())
        root.add_widget(label(s, app.tr("feedback_question"), 40, bold=True, size_hint_y=None))
        root.add_widget(label(s, app.tr("feedback_hint"), 22, colour=MUTED, size_hint_y=None))
        row = BoxLayout(size_hint_y=None, height=s.px(80), spacing=s.px(10))
        for rating in range(1, 6):
            row.add_widget(button(s, app.tr(f"feedback_{rating}"), lambda r=rating: app.runtime.answer_feedback(r),
                                  height=None, size=22))
        root.add_widget(row)
        root.add_widget(spacer())
        skip = BoxLayout(size_hint_y=None, height=s.px(64))
        skip.add_widget(spacer())
        skip.add_widget(button(s, app.tr("feedback_skip"), app.runtime.skip_feedback, colour=NEUTRAL,
                               size_hint_x=None, width=s.px(200)))
        root.add_widget(skip)
        self.add_widget(root)
