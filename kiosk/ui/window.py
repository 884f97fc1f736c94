"""Open a kiosk's Kivy window for a runtime: ``run_window(runtime)`` (used by ``kiosk.service`` and the demo).

Kivy reads its environment and configuration when first imported, so this module sets them up before
importing anything from Kivy: no command-line parsing (our CLI owns ``sys.argv``), logs through Python's
``logging`` instead of files on the SD card, the window size and full-screen mode, and Escape not closing a
public kiosk. Everything Kivy is imported inside ``run_window``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from kiosk.runtime import KioskRuntime

if TYPE_CHECKING:
    from kiosk.ui.application import KioskApp


def require_kivy() -> None:
    """Import Kivy (its environment set first), so that a missing extra is reported before anything starts."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    import kivy  # noqa: F401


def _prepare_kivy(width: int, height: int, fullscreen: bool) -> None:
    require_kivy()
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "0" if fullscreen else "1")
    Config.set("kivy", "exit_on_escape", "0" if fullscreen else "1")
    Config.set("input", "mouse", "mouse,multitouch_on_demand")  # no red multitouch dots on right-click


def run_window(runtime: KioskRuntime, *, fullscreen: bool = False, size: tuple[int, int] | None = None,
               language: str | None = None, on_ready: Callable[[KioskApp], None] | None = None) -> None:
    """Show ``runtime`` in a Kivy window until it is closed; the runtime must be started by the caller.

    ``size`` overrides the configured window size (ignored in full screen); ``on_ready(app)`` runs on Kivy's
    thread once the first screen is drawn (tests and the demo drive the app from there).
    """
    screen = runtime.settings.screen
    width, height = size or (screen.width, screen.height)
    _prepare_kivy(width, height, fullscreen)
    from kivy.clock import Clock

    from kiosk.ui.application import KioskApp

    app = KioskApp(runtime, language=language, on_ready=on_ready)
    if threading.current_thread() is threading.main_thread():
        # systemd stops the kiosk with SIGTERM: close the window so the caller can say goodbye on MQTT.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: Clock.schedule_once(lambda _dt: app.stop(), 0))
    app.run()
