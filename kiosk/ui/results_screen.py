"""The health station's results, a page at a time, so that every result is seen whole.

A screening has up to nine results (blood pressure, pulse, oxygen, temperature, weight, height, BMI, PHQ-9,
GAD-7); at 800×480 and at 1080p about three and a half fit. A scroll view hid the rest behind a thin bar
that students did not notice, and cut the fourth row mid-line. Instead each row is measured (its guidance
wraps to the window's width), the rows are packed into pages that fit, and big "More ▶" / "◀ Back"
buttons and "Page 1 of 3" move between them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen

from kiosk import guidance
from kiosk.health import Result
from kiosk.ui.health_screens import number
from kiosk.ui.kiosk_screens import timeout_warning, top_bar
from kiosk.ui.widgets import (
    BACKGROUND,
    BAD,
    CATEGORY_COLOURS,
    GOOD,
    MUTED,
    NEUTRAL,
    PANEL,
    Filled,
    button,
    label,
    spacer,
)
from onestop import clinical

if TYPE_CHECKING:
    from kiosk.ui.application import KioskApp

# Lengths in 800×480 pixels (``Style.px``): the screen's padding and spacing, the bars, a row's parts.
_PADDING, _SPACING, _TOP_BAR, _FOOTER = 12, 8, 52, 60
_ROW_PADDING, _ROW_HEAD, _ROW_SPACING = 10, 34, 4


def paginate(heights: list[float], available: float, spacing: float) -> list[list[int]]:
    """Indices of blocks of ``heights`` packed in order into pages of ``available`` height (at least one page).

    A block taller than a page gets a page of its own.
    """
    pages: list[list[int]] = [[]]
    used = 0.0
    for index, height in enumerate(heights):
        needed = height if not pages[-1] else used + spacing + height
        if pages[-1] and needed > available:
            pages.append([])
            needed = height
        pages[-1].append(index)
        used = needed
    return pages


def _fit(widget: Label, width: float) -> float:
    """The height ``widget``'s text takes when wrapped at ``width`` (rendered now, not on the next frame)."""
    widget.text_size = (width, None)
    widget.texture_update()
    return float(widget.texture_size[1])


class ResultsScreen(Screen):
    """Categories with plain guidance; the PHQ-9 item 9 message first when it applies."""

    page = 0
    _session: str | None = None

    def render(self, app: KioskApp) -> None:
        s, session = app.style, app.runtime.session
        if session.session_id != self._session:  # a new student starts on the first page
            self._session, self.page = session.session_id, 0
        self.clear_widgets()
        width, height = Window.size
        inner = width - s.px(2 * _PADDING)
        blocks: list[tuple[Filled, float]] = []
        if session.item9_positive:
            blocks.append(self._item9(app, inner))
        blocks += [self._row(app, result, inner) for result in session.results()]
        available = height - s.px(2 * _PADDING + _TOP_BAR + _FOOTER + 2 * _SPACING)
        pages = paginate([h for _, h in blocks], available, s.px(_SPACING))
        self.page = max(0, min(self.page, len(pages) - 1))

        root = Filled(BACKGROUND, orientation="vertical", padding=s.px(_PADDING), spacing=s.px(_SPACING))
        extra = [label(s, app.tr("page_of", n=self.page + 1, total=len(pages)), 20, bold=True, colour=MUTED,
                       size_hint_x=0.7)] if len(pages) > 1 else []
        root.add_widget(top_bar(app, app.tr("results_title"), *extra))
        body = BoxLayout(orientation="vertical", spacing=s.px(_SPACING))
        for index in pages[self.page]:
            body.add_widget(blocks[index][0])
        body.add_widget(spacer())
        root.add_widget(body)
        footer = BoxLayout(size_hint_y=None, height=s.px(_FOOTER), spacing=s.px(_SPACING))
        if self.page > 0:
            footer.add_widget(button(s, app.tr("previous_results"), lambda: self._turn(app, -1), colour=NEUTRAL,
                                     size=20, height=_FOOTER, size_hint_x=None, width=s.px(150)))
        footer.add_widget(label(s, guidance.SCREENING_NOTE[app.lang], 16, colour=MUTED))
        if self.page < len(pages) - 1:
            footer.add_widget(button(s, app.tr("more_results"), lambda: self._turn(app, 1), size=20,
                                     height=_FOOTER, size_hint_x=None, width=s.px(150)))
        footer.add_widget(button(s, app.tr("finish"), app.runtime.done, colour=GOOD, height=_FOOTER,
                                 size_hint_x=None, width=s.px(150)))
        root.add_widget(footer)
        self.add_widget(root)
        timeout_warning(app, self)

    def _turn(self, app: KioskApp, step: int) -> None:
        self.page += step
        app.runtime.touch()
        self.render(app)

    def _item9(self, app: KioskApp, inner: float) -> tuple[Filled, float]:
        s = app.style
        box = Filled(BAD, radius=s.px(8), size_hint_y=None, padding=s.px(10))
        text = label(s, guidance.PHQ9_ITEM9_GUIDANCE[app.lang], 20, bold=True, size_hint_y=None)
        box.height = _fit(text, inner - s.px(20)) + s.px(20)
        text.height = box.height - s.px(20)
        box.add_widget(text)
        box.result_measure = "phq9-item9"  # type: ignore[attr-defined]  # for the tests' "seen whole" check
        return box, box.height

    def _row(self, app: KioskApp, result: Result, inner: float) -> tuple[Filled, float]:
        s, lang = app.style, app.lang
        row = Filled(PANEL, radius=s.px(8), orientation="vertical", size_hint_y=None, padding=s.px(_ROW_PADDING),
                     spacing=s.px(_ROW_SPACING))
        head = BoxLayout(size_hint_y=None, height=s.px(_ROW_HEAD), spacing=s.px(8))
        head.add_widget(label(s, app.tr(result.measure), 20, colour=MUTED, halign="left", size_hint_x=0.9))
        head.add_widget(label(s, _reading_text(app, result), 22, bold=True, halign="left"))
        chip = Filled(CATEGORY_COLOURS.get(result.category, NEUTRAL), radius=s.px(6), size_hint_x=0.9)
        chip.add_widget(label(s, guidance.category_label(result.measure, result.category, lang), 18, bold=True))
        head.add_widget(chip)
        row.add_widget(head)
        advice = label(s, guidance.guidance(result.measure, result.category, lang), 17, halign="left",
                       size_hint_y=None)
        advice.height = _fit(advice, inner - s.px(2 * _ROW_PADDING))
        row.add_widget(advice)
        row.height = advice.height + s.px(2 * _ROW_PADDING + _ROW_HEAD + _ROW_SPACING)
        row.result_measure = result.measure  # type: ignore[attr-defined]  # for the tests' "seen whole" check
        return row, row.height


def _reading_text(app: KioskApp, result: Result) -> str:
    measure, readings, score = result.measure, result.readings, result.score
    if score is not None:
        return app.tr("score", score=score)
    values = {m.code: m.value for m in readings}
    if measure == "bp":
        return f"{number(values[clinical.SYSTOLIC])}/{number(values[clinical.DIASTOLIC])} mmHg"
    if measure == "heart_rate":
        return f"{number(readings[0].value)} /min"
    if measure == "spo2":
        return f"{number(readings[0].value)} %"
    if measure == "temperature":
        return f"{readings[0].value:.1f} °C"
    return f"{readings[0].value:.1f}"
