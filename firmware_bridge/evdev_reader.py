"""USB keyboard-wedge card readers through Linux evdev, behind the same interface as ``SerialReader``.

The reader is opened by its ``/dev/input/event*`` path (use a stable ``/dev/input/by-id/...`` link) and
grabbed, so its keystrokes reach only us, never the kiosk UI. Key events go to the pure
``KeyLineAssembler``; this module only moves them. ``evdev`` is an optional, Linux-only dependency and is
imported when a reader is opened, so everything else works without it.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable
from typing import Any

from firmware_bridge.errors import PortError
from firmware_bridge.protocols.wedge import KeyLineAssembler
from firmware_bridge.reconnect import DEFAULT_WINDOW, CardCallback, EventCallback, ReconnectingReader

EV_KEY = 1  # linux/input-event-codes.h


class EvdevWedgeReader(ReconnectingReader):
    """Reads card numbers typed by a USB wedge reader at ``device_path``; same callbacks as SerialReader."""

    def __init__(
        self,
        device_path: str,
        on_event: EventCallback,
        *,
        on_card: CardCallback | None = None,
        grab: bool = True,
        repeat_window: float = DEFAULT_WINDOW,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        poll_timeout: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[[str], Any] | None = None,
    ) -> None:
        super().__init__(
            device_path,
            on_event,
            on_card=on_card,
            repeat_window=repeat_window,
            retry_initial=retry_initial,
            retry_max=retry_max,
            clock=clock,
        )
        self.device_path = device_path
        self._grab = grab
        self._poll_timeout = poll_timeout
        self._opener = opener  # tests pass a fake device; production uses evdev.InputDevice

    def _open(self) -> Any:
        opener = self._opener or _evdev_opener()
        try:
            device = opener(self.device_path)
            if self._grab:
                device.grab()
        except OSError as exc:
            raise PortError(f"cannot open: {exc}") from exc
        return device

    def _pump(self, device: Any) -> None:
        assembler = KeyLineAssembler()
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([device.fd], [], [], self._poll_timeout)
                events = list(device.read()) if ready else []
            except BlockingIOError:
                continue  # select said readable but another reader was faster; nothing lost
            except OSError as exc:
                raise PortError(f"read failed: {exc}") from exc
            for event in events:
                if event.type == EV_KEY:
                    result = assembler.key(event.code, event.value)
                    if result is not None:
                        self._deliver(result)

    def _close(self, device: Any) -> None:
        # An unplugged device cannot be ungrabbed; closing is best effort.
        for step in ("ungrab", "close"):
            with contextlib.suppress(OSError, AttributeError):
                getattr(device, step)()


def _evdev_opener() -> Callable[[str], Any]:
    try:
        import evdev
    except ImportError as exc:
        raise PortError("the evdev package is needed for USB wedge readers: pip install evdev") from exc
    return evdev.InputDevice
