"""What the UI tests check in a drawn window's widget tree (run on Kivy's thread, from ``ui_scenario``).

- ``audit``: every visible text against its background (WCAG 2 AA contrast) and every button's size (9 mm on
  the 7" screen, scaled with the window);
- ``whole_rows``: which results rows are drawn entirely, inside the window and every widget holding them;
- ``timeout_warning_geometry``: where the privacy warning is and how large its text is.
"""

from __future__ import annotations

from typing import Any


def _ancestors(widget: Any) -> list[Any]:
    chain, node = [], widget.parent
    while node is not None and node is not node.parent:
        chain.append(node)
        node = node.parent
    return chain


def _rect(widget: Any) -> tuple[float, float, float, float]:
    x, y = widget.to_window(widget.x, widget.y)
    return x, y, x + widget.width, y + widget.height


def whole_rows(app: Any) -> set[str]:
    """Results rows drawn entirely inside the window and inside every widget that holds them (scroll views)."""
    from kivy.core.window import Window

    found: set[str] = set()

    def inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
        return inner[0] >= outer[0] - 1 and inner[1] >= outer[1] - 1 and inner[2] <= outer[2] + 1 \
            and inner[3] <= outer[3] + 1

    def walk(node: Any) -> None:
        measure = getattr(node, "result_measure", None)
        if measure and node.height > 0:
            rect = _rect(node)
            if inside(rect, (0, 0, *Window.size)) and all(inside(rect, _rect(a)) for a in _ancestors(node)
                                                          if a.parent is not None and a is not Window):
                found.add(measure)
        for child in node.children:
            walk(child)

    walk(app.manager.current_screen)
    return found


def _luminance(rgba: tuple[float, ...]) -> float:
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: tuple[float, ...], background: tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio of two opaque colours (a translucent foreground is blended over the background)."""
    alpha = foreground[3] if len(foreground) > 3 else 1.0
    blended = tuple(f * alpha + b * (1 - alpha) for f, b in zip(foreground[:3], background[:3], strict=True))
    high, low = sorted((_luminance(blended), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# The 7" touch screen: 800×480 on ~133 px/inch. A CSS pixel is 1/96 inch; WCAG's large text is 24 CSS px
# (18.66 bold); a touch target of 9 mm is 47 px. Other windows scale the whole layout (``Style.scale``).
PX_PER_INCH = 800 / 6.0  # the panel's visible width is ~6 inches (154 mm)
LARGE_TEXT, LARGE_BOLD_TEXT = 24 * PX_PER_INCH / 96, 18.66 * PX_PER_INCH / 96
MIN_TARGET = 9 / 25.4 * PX_PER_INCH


def audit(app: Any) -> dict[str, Any]:
    """Every visible text against its background (WCAG AA) and every button's size (≥ 9 mm); raises on a miss."""
    from kivy.core.window import Window
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    from kiosk.ui.widgets import Filled

    scale, problems = app.style.scale, []
    texts = buttons = 0

    def background(widget: Any) -> tuple[float, ...]:
        for node in _ancestors(widget):
            if isinstance(node, Filled):
                return node.colour
        return tuple(Window.clearcolor)

    def walk(node: Any) -> None:
        nonlocal texts, buttons
        if node.opacity == 0:
            return
        if isinstance(node, Button):
            buttons += 1
            if min(node.size) < MIN_TARGET * scale - 0.5:
                problems.append(f"button {node.text!r} is {node.width:.0f}×{node.height:.0f} px, "
                                f"under 9 mm ({MIN_TARGET * scale:.0f} px)")
        if isinstance(node, Label) and node.text.strip() and not node.disabled:  # WCAG exempts inactive controls
            texts += 1
            back = node.background_color if isinstance(node, Button) else background(node)
            size = node.font_size / scale
            needed = 3.0 if size >= LARGE_TEXT or (node.bold and size >= LARGE_BOLD_TEXT) else 4.5
            ratio = contrast(tuple(node.color), tuple(back))
            if ratio < needed:
                problems.append(f"{node.text[:40]!r}: contrast {ratio:.2f} < {needed}")
        for child in node.children:
            walk(child)

    walk(app.manager.current_screen)
    assert not problems, "; ".join(problems)
    return {"texts_checked": texts, "buttons_checked": buttons}


def timeout_warning_geometry(app: Any) -> dict[str, float]:
    """Where the privacy warning is and how large its text is (in 800×480 pixels)."""
    from kivy.core.window import Window

    from kiosk.ui.widgets import Shield

    def find(node: Any) -> Any:
        if isinstance(node, Shield):
            return node
        return next((f for f in (find(c) for c in node.children) if f is not None), None)

    shield = find(app.manager.current_screen)
    assert shield is not None, "no time-out warning on screen"
    x0, y0, x1, y1 = _rect(shield)
    width, height = Window.size
    return {"centre_x": (x0 + x1) / 2 / width, "centre_y": (y0 + y1) / 2 / height, "width": (x1 - x0) / width,
            "font": max(c.font_size for c in shield.children) / app.style.scale}
