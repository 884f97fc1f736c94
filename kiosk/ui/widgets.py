"""Styled building blocks for the kiosk screens: flat colours, large touch targets, one font for both languages.

Sizes scale with the window: ``Style.scale`` is 1.0 at 800×480 (the official Raspberry Pi touch screen) and
grows with the shorter side, so the same layout reads well at 1920×1080. Touch targets stay at least ~9 mm
(48 px at 800×480 on the 7" screen's ~133 px/inch), the low end of the usual 7–10 mm guidance for public touch
screens. Text and its background meet WCAG AA contrast (4.5:1, 3:1 for large text): white on every filled
colour below, and the ``*_TEXT`` colours for warnings on the dark background. ``tests/kiosk/test_ui.py``
checks both from the widget tree of every screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from kivy.core.text import LabelBase
from kivy.graphics import Color, Rectangle, RoundedRectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.ui.fonts import chinese_face

RGBA = tuple[float, float, float, float]


def hex_colour(value: str, alpha: float = 1.0) -> RGBA:
    """``"#1b1f24"`` → Kivy's 0-1 RGBA."""
    value = value.lstrip("#")
    return (int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255, alpha)


BACKGROUND = hex_colour("#14181d")
PANEL = hex_colour("#232a33")
TEXT = hex_colour("#f4f6f8")
MUTED = hex_colour("#a9b4c0")
ACCENT = hex_colour("#1e6bb8")
GOOD = hex_colour("#2e7d32")
WARN = hex_colour("#9a5b00")
BAD = hex_colour("#c62828")
NEUTRAL = hex_colour("#4a5563")
# Warnings as text on BACKGROUND or PANEL (the filled WARN and BAD are too dark for that).
WARN_TEXT = hex_colour("#ffb74d")
BAD_TEXT = hex_colour("#ef9a9a")
# The privacy time-out warning: dark text on amber, over everything else.
ALERT = hex_colour("#ffb300")

# Feedback backgrounds: green = go ahead, amber = not now, red = not recognised.
FEEDBACK_COLOURS = {"welcome": GOOD, "reservation": GOOD, "goodbye": ACCENT, "attendance": GOOD,
                    "already-registered": GOOD, "identified": GOOD, "full": WARN, "reservation-required": WARN,
                    "unknown-card": BAD, "not-recorded": BAD, "already-in": GOOD, "not-inside": WARN,
                    "card-lost": BAD, "card-blocked": BAD, "card-expired": BAD, "not-admitted": WARN,
                    "request-sent": GOOD, "request-sent-anonymous": GOOD}
# Result categories: the further from normal, the warmer.
CATEGORY_COLOURS = {"normal": GOOD, "minimal": GOOD, "mild": WARN, "elevated": WARN, "stage-1": WARN,
                    "low": WARN, "high": WARN, "under": WARN, "over": WARN, "moderate": WARN,
                    "stage-2": BAD, "crisis": BAD, "very-low": BAD, "fever": BAD, "obese": BAD,
                    "moderately-severe": BAD, "severe": BAD}


@dataclass
class Style:
    """Font and scale for one window."""

    font: Path | None
    scale: float = 1.0

    @classmethod
    def for_window(cls, width: int, height: int, font: Path | None) -> Style:
        return cls(font, max(0.75, min(width / 800, height / 480)))

    def px(self, value: float) -> float:
        """A length in 800×480 pixels, scaled for this window."""
        return value * self.scale

    def text_args(self, size: float) -> dict[str, Any]:
        args: dict[str, Any] = {"font_size": self.px(size)}
        if self.font:
            args["font_name"] = register_font(self.font)
        return args


@cache
def register_font(regular: Path) -> str:
    """Register ``regular`` (and its Bold sibling, when installed) as one family; returns the family name.

    From a collection such as Noto Sans CJK's ``.ttc`` the simplified-Chinese face is registered (Kivy would
    take the first, Japanese, face): ``kiosk.ui.fonts``. Done once per font file.
    """
    bold = regular.with_name(regular.name.replace("Regular", "Bold"))
    LabelBase.register(FONT_FAMILY, str(chinese_face(regular)),
                       fn_bold=str(chinese_face(bold)) if bold.is_file() and bold != regular else None)
    return FONT_FAMILY


FONT_FAMILY = "OnestopCJK"


class Filled(BoxLayout):
    """A box with a flat (optionally rounded) background colour."""

    def __init__(self, colour: RGBA = PANEL, radius: float = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            self._colour = Color(*colour)
            self._rect = (RoundedRectangle(radius=[radius]) if radius else Rectangle())
        self.bind(pos=self._redraw, size=self._redraw)

    def _redraw(self, *_: Any) -> None:
        self._rect.pos, self._rect.size = self.pos, self.size

    @property
    def colour(self) -> RGBA:
        """The background colour (what the text on it is measured against)."""
        return tuple(self._colour.rgba)  # type: ignore[return-value]


class Shield(Filled):
    """A filled box that keeps touches from the widgets under it (the touch itself still counts as activity)."""

    def on_touch_down(self, touch: Any) -> bool:
        return bool(self.collide_point(*touch.pos)) or bool(super().on_touch_down(touch))


def label(style: Style, text: str, size: float = 22, *, colour: RGBA = TEXT, bold: bool = False,
          halign: str = "center", wrap: bool = True, **kwargs: Any) -> Label:
    """A label that wraps inside its width and uses the screen's font."""
    widget = Label(text=text, color=colour, bold=bold, halign=halign, valign="middle", **style.text_args(size),
                   **kwargs)
    if wrap:
        widget.bind(width=lambda w, width: setattr(w, "text_size", (width, None)))
        widget.bind(texture_size=lambda w, ts: setattr(w, "height", ts[1]) if w.size_hint_y is None else None)
    return widget


def button(style: Style, text: str, on_press: Any, *, colour: RGBA = ACCENT, size: float = 22,
           height: float | None = 64, **kwargs: Any) -> Button:
    """A big flat button; ``on_press`` gets no arguments; ``height=None`` stretches with its layout."""
    sizing: dict[str, Any] = {"size_hint_y": 1} if height is None else {"size_hint_y": None,
                                                                         "height": style.px(height)}
    widget = Button(text=text, background_normal="", background_down="", background_color=colour,
                    color=TEXT, halign="center", valign="middle", **sizing, **style.text_args(size), **kwargs)
    widget.bind(size=lambda w, s: setattr(w, "text_size", (s[0] - style.px(16), None)))
    widget.bind(on_release=lambda *_: on_press())
    return widget


def spacer() -> Widget:
    """Empty stretch."""
    return Widget()


def refresh_textures(widget: Widget) -> None:
    """Render every label's text now (Kivy does it lazily, on the next frame) so a capture has the text."""
    if isinstance(widget, Label):
        widget.texture_update()
    for child in widget.children:
        refresh_textures(child)


def texts(widget: Widget) -> list[str]:
    """Every non-empty label and button text under ``widget``, in tree order (for tests and logs)."""
    found: list[str] = []

    def walk(node: Widget) -> None:
        if isinstance(node, Label) and node.text and node.opacity > 0:
            found.append(node.text)
        for child in reversed(node.children):
            walk(child)

    walk(widget)
    return found


def find_button(widget: Widget, text: str) -> Button | None:
    """The enabled button showing ``text`` under ``widget``."""
    if isinstance(widget, Button) and widget.text == text and not widget.disabled:
        return widget
    for child in widget.children:
        found = find_button(child, text)
        if found is not None:
            return found
    return None
