"""Headless Chromium for tests that look at a page as a person would: shared by every dashboard test.

Uses Debian's ``chromium`` driven by Playwright (the Python package only; no downloaded browser: never run
``playwright install``). The ``browser`` fixture is registered once, in ``tests/conftest.py`` (a second
registration would start a second Playwright on the same thread, which Playwright refuses); use it with
``new_page``;
``screenshot`` saves a PNG and checks it is not blank, so a failing page is caught and can be looked at.

    from tests.browser import new_page, screenshot

    def test_dashboard(browser, tmp_path):
        page = new_page(browser)
        page.goto(url)
        page.wait_for_selector("#occupancy .space")
        screenshot(page, tmp_path / "dashboard.png")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SCREENSHOT_DIR_ENV = "ONESTOP_SCREENSHOTS"  # set to keep screenshots in a directory of your choice


def chromium_path() -> str:
    """The Chromium binary (Debian's package); skip loudly when it is missing."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("Chromium is not installed: run scripts/setup dev (Debian package 'chromium')")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the whole test session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def new_page(browser: Any, width: int = 1280, height: int = 900) -> Any:
    """A fresh page (its own context: no shared storage between tests); console errors fail the page."""
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    return page


def blank_fraction(png: bytes) -> float:
    """The share of pixels that have the image's most common colour (1.0 = a blank image)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.thumbnail((320, 320))
    colours = image.getcolors(maxcolors=320 * 320) or []
    total = image.width * image.height
    return max(count for count, _ in colours) / total if colours else 1.0


def screenshot(page: Any, path: Path, full_page: bool = True, max_blank: float = 0.97,
               min_colours: int = 8) -> Path:
    """Save a PNG of ``page`` and assert it shows something: not one colour, and a few distinct colours."""
    import io

    from PIL import Image

    keep = os.environ.get(SCREENSHOT_DIR_ENV)
    if keep:
        path = Path(keep) / path.name
    path.parent.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(path=str(path), full_page=full_page)
    assert blank_fraction(png) < max_blank, f"screenshot {path} looks blank"
    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) >= min_colours, f"screenshot {path} has only {len(colours)} colours"
    return path
