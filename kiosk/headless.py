"""``onestop kiosk run``: a kiosk with or without its screen."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from kiosk.runtime import KioskRuntime
from kiosk.settings import load


def run(config: Path, *, headless: bool) -> None:
    """Run until SIGINT / SIGTERM."""
    settings = load(config)
    runtime = KioskRuntime(settings)
    if not headless:
        raise SystemExit("the Kivy screen is not available in this build yet; use --headless")
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    runtime.start()
    done.wait()
    runtime.stop()
