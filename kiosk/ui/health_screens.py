"""The health-station screens: consent, the measuring hub, the height keypad, one questionnaire item.

The results are in ``results_screen``.

Every action goes through the runtime (which records before it answers); these classes only draw the
session's state and turn touches into calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.screenmanager import Screen

from firmware_bridge.drivers import DRIVERS, PeripheralKind
from kiosk.questionnaires import wording
from kiosk.ui.kiosk_screens import timeout_warning, top_bar
from kiosk.ui.widgets import (
    ACCENT,
    BACKGROUND,
    BAD_TEXT,
    GOOD,
    MUTED,
    NEUTRAL,
    PANEL,
    TEXT,
    Filled,
    button,
    label,
)
from onestop import clinical

if TYPE_CHECKING:
    from kiosk.ui.application import KioskApp

_TILE_OF_KIND = {PeripheralKind.BLOOD_PRESSURE: "bp", PeripheralKind.PULSE_OXIMETER: "spo2",
                 PeripheralKind.THERMOMETER: "temperature", PeripheralKind.SCALE: "weight"}


def number(value: float) -> str:
    """A reading without a needless ".0"."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


class ConsentScreen(Screen):
    """Separate consent after the tap: what is measured, who sees it, how long it is kept; agree or decline."""

    def render(self, app: KioskApp) -> None:
        s = app.style
        self.clear_widgets()
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(12), spacing=s.px(8))
        root.add_widget(top_bar(app, app.tr("consent_title")))
        for key in ("consent_what", "consent_who", "consent_how_long"):
            root.add_widget(label(s, app.tr(key), 19, halign="left"))
        root.add_widget(label(s, app.tr("consent_choice"), 19, bold=True, halign="left"))
        row = BoxLayout(size_hint_y=None, height=s.px(64), spacing=s.px(8))
        row.add_widget(button(s, app.tr("consent_decline"), app.runtime.decline_consent, colour=NEUTRAL,
                              size_hint_x=0.4))
        row.add_widget(button(s, app.tr("consent_accept"), app.runtime.accept_consent, colour=GOOD))
        root.add_widget(row)
        self.add_widget(root)
        timeout_warning(app, self)


class HealthScreen(Screen):
    """The hub: a tile per device, the optional questionnaires, and the way to the results."""

    def render(self, app: KioskApp) -> None:
        s, session = app.style, app.runtime.session
        self.clear_widgets()
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(12), spacing=s.px(8))
        root.add_widget(top_bar(app, app.tr("health_title")))
        root.add_widget(label(s, app.tr("health_hint"), 17, colour=MUTED, size_hint_y=None))
        grid = GridLayout(cols=3, spacing=s.px(8))
        statuses, faults = self._statuses(app)
        value = session.value
        bp = (f"{number(value(clinical.SYSTOLIC))}/{number(value(clinical.DIASTOLIC))}"
              if value(clinical.SYSTOLIC) and value(clinical.DIASTOLIC) else None)
        pulse = value(clinical.HEART_RATE)
        spo2 = value(clinical.SPO2) or value(clinical.SPO2_ARTERIAL)
        tiles = [
            ("bp", bp, ("mmHg" + (f" · {number(pulse)} /min" if pulse else "")) if bp else ""),
            ("spo2", f"{number(spo2)} %" if spo2 else None, f"{number(pulse)} /min" if pulse else ""),
            ("temperature", f"{value(clinical.BODY_TEMPERATURE):.1f} °C" if value(clinical.BODY_TEMPERATURE)
             else None, ""),
            ("weight", f"{number(value(clinical.BODY_WEIGHT))} kg" if value(clinical.BODY_WEIGHT) else None, ""),
            ("height", f"{number(value(clinical.BODY_HEIGHT))} cm" if value(clinical.BODY_HEIGHT) else None, ""),
            ("bmi", f"{value(clinical.BMI):.1f}" if value(clinical.BMI) else None, ""),
        ]
        for key, shown, sub in tiles:
            # A device's state ("put a finger in the clip") helps until it has given a reading; after
            # that, the finger leaving the clip is normal and the reading's details matter more.
            hint = faults.get(key) or (statuses.get(key) if shown is None else None)
            grid.add_widget(self._tile(app, key, shown, hint or sub))
        root.add_widget(grid)
        row = BoxLayout(size_hint_y=None, height=s.px(56), spacing=s.px(8))
        for instrument, key in (("PHQ-9", "start_phq9"), ("GAD-7", "start_gad7")):
            done = instrument in session.questionnaires
            text = app.tr(key) + (f" — {app.tr('done_mark')}" if done else "")
            row.add_widget(button(s, text, lambda i=instrument: app.runtime.begin(i), colour=GOOD if done else ACCENT,
                                  size=18, height=56))
        root.add_widget(row)
        bottom = BoxLayout(size_hint_y=None, height=s.px(60), spacing=s.px(8))
        bottom.add_widget(button(s, app.tr("cancel"), app.runtime.cancel, colour=NEUTRAL, height=60,
                                 size_hint_x=0.4))
        results = button(s, app.tr("see_results"), app.runtime.finish, colour=GOOD, height=60)
        results.disabled = not session.has_data
        bottom.add_widget(results)
        root.add_widget(bottom)
        self.add_widget(root)
        timeout_warning(app, self)

    def _statuses(self, app: KioskApp) -> tuple[dict[str, str], dict[str, str]]:
        """Per tile: what its device says (``finger-out`` ...), and whether its device is unavailable."""
        statuses, faults = {}, {}
        for component, status in app.runtime.device_states.items():
            driver = DRIVERS.get(component)
            tile = _TILE_OF_KIND.get(driver.kind) if driver else None
            text = app.tr(f"status_{status}")
            if tile and text != f"status_{status}":
                statuses[tile] = text
        for component in app.runtime.faults:
            driver = DRIVERS.get(component)
            if driver and (tile := _TILE_OF_KIND.get(driver.kind)):
                faults[tile] = app.tr("device_fault", device=app.tr(tile))
        return statuses, faults

    def _tile(self, app: KioskApp, key: str, shown: str | None, sub: str) -> Filled:
        s = app.style
        tile = Filled(PANEL, radius=s.px(10), orientation="vertical", padding=s.px(6), spacing=s.px(2))
        tile.add_widget(label(s, app.tr(key), 17, colour=MUTED, size_hint_y=None, height=s.px(24)))
        value = label(s, shown or app.tr("waiting"), 28 if shown else 18, bold=bool(shown),
                      colour=TEXT if shown else MUTED)
        if key == "height":
            # Value and button side by side: stacked, a 9 mm button left the value no room in the tile.
            row = BoxLayout(spacing=s.px(6))
            row.add_widget(value)
            row.add_widget(button(s, app.tr("enter_height"), app.open_keypad, colour=ACCENT, size=16, height=48,
                                  pos_hint={"center_y": 0.5}))
            tile.add_widget(row)
        else:
            tile.add_widget(value)
            tile.add_widget(label(s, sub, 15, colour=MUTED, size_hint_y=None, height=s.px(22)))
        return tile


class HeightScreen(Screen):
    """A numeric keypad for the height, in centimetres."""

    typed = ""
    error = False

    def render(self, app: KioskApp) -> None:
        s = app.style
        self.clear_widgets()
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(12), spacing=s.px(8))
        root.add_widget(top_bar(app, app.tr("enter_height")))
        shown = f"{self.typed or '—'} cm"
        root.add_widget(label(s, shown, 40, bold=True, size_hint_y=None, height=s.px(56)))
        if self.error:
            root.add_widget(label(s, app.tr("height_invalid"), 16, colour=BAD_TEXT, size_hint_y=None,
                                  height=s.px(22)))
        pad = GridLayout(cols=3, spacing=s.px(6))
        for key in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"):
            if key == "clear":
                pad.add_widget(button(s, app.tr("clear"), lambda: self._set(app, ""), colour=NEUTRAL, height=None))
            elif key == "ok":
                pad.add_widget(button(s, app.tr("ok"), lambda: self._ok(app), colour=GOOD, height=None))
            else:
                pad.add_widget(button(s, key, lambda k=key: self._set(app, (self.typed + k)[:3]), size=28,
                                      height=None))
        root.add_widget(pad)
        root.add_widget(button(s, app.tr("back"), app.close_keypad, colour=NEUTRAL, height=52))
        self.add_widget(root)
        timeout_warning(app, self)

    def _set(self, app: KioskApp, typed: str) -> None:
        self.typed, self.error = typed, False
        app.runtime.touch()
        self.render(app)

    def _ok(self, app: KioskApp) -> None:
        value = int(self.typed) if self.typed else 0
        if not 50 <= value <= 250:
            self.error = True
            self.render(app)
            return
        app.runtime.enter_height(value)
        app.close_keypad()


class QuestionScreen(Screen):
    """One questionnaire item with its four standard answers."""

    def render(self, app: KioskApp) -> None:
        s, session = app.style, app.runtime.session
        self.clear_widgets()
        if session.instrument is None:
            return
        words = wording(session.instrument, app.lang)
        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(12), spacing=s.px(8))
        progress = app.tr("question_of", n=session.item + 1, total=len(words.items))
        back = button(s, app.tr("back"), app.runtime.back, colour=NEUTRAL, size=18, height=52,
                      size_hint_x=None, width=s.px(110))
        bar = top_bar(app, words.title, label(s, progress, 18, colour=MUTED))
        bar.add_widget(back, index=len(bar.children))
        root.add_widget(bar)
        root.add_widget(label(s, words.stem, 17, colour=MUTED, size_hint_y=None))
        root.add_widget(label(s, words.items[session.item], 28, bold=True))
        answers = GridLayout(cols=2, spacing=s.px(8), size_hint_y=None, height=s.px(2 * 76 + 8))
        for value, option in enumerate(words.options):
            answers.add_widget(button(s, option, lambda v=value: app.runtime.answer(v), size=22, height=76))
        root.add_widget(answers)
        self.add_widget(root)
        timeout_warning(app, self)
