"""``onestop kiosk run``: a kiosk or health station, with its window or without a screen.

The one path from the command to the screen: ``onestop/cli.py`` → ``kiosk.service.run`` (settings, the
runtime) → ``kiosk.ui.window.run_window`` (Kivy's environment, signals) → ``kiosk.ui.application.KioskApp``
(which screen shows when). Without a screen the runtime runs until SIGINT / SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from kiosk.runtime import KioskRuntime
from kiosk.settings import load
from onestop.errors import ConfigError

log = logging.getLogger(__name__)


def run(config: Path, *, headless: bool, fullscreen: bool = False) -> None:
    """Run until SIGINT / SIGTERM (or the window is closed)."""
    settings = load(config)
    problem = settings.reader.problem()
    if problem:
        raise ConfigError(str(config), [f"reader: {problem}"])
    if not headless:
        from kiosk.ui.window import require_kivy, run_window

        require_kivy()  # only when a screen is wanted, and before anything starts
        runtime = KioskRuntime(settings)
        runtime.start()
        try:
            run_window(runtime, fullscreen=fullscreen)
        finally:
            runtime.stop()
        return
    runtime = KioskRuntime(settings)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    runtime.start()
    log.info("kiosk %s running headless (%s, space %s)", settings.device, settings.mode, settings.space)
    done.wait()
    runtime.stop()
