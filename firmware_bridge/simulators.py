"""Every supported device emulated on a pseudo-terminal, for kiosks, the demo and tests.

    with SimulatedDevice("em4100", seed=1, noise=True) as reader:
        SerialReader(reader.path, "em4100", on_event=print).start()
        reader.tap("62E3086CED")

``path`` is a symlink in a private temporary directory pointing at the pty's slave side. ``unplug()``
closes the pty and removes the link (what a USB adapter pulled out looks like: reads fail, the path is
gone); ``replug()`` makes a new pty and points the same path at it.

Devices that must be talked to answer the host: the PN532 ACKs and answers commands and keeps a tapped
card for the next InListPassiveTarget; the Contec v4.6 streams only after the start command. Passive
devices write only when told (``tap``/``measure``); like a real line, bytes written while no program has
the port open are lost, so wait for the reader to be connected first.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import shutil
import tempfile
import threading
import time
import tty
from typing import Any

from firmware_bridge.device_streams import (
    ContecV46Emulator,
    Pn532Emulator,
    Step,
    check_values,
    measure_steps,
    tap_steps,
)
from firmware_bridge.drivers import PeripheralKind, get_driver

LISTEN_INTERVAL = 0.02
START_TIMEOUT = 3.0  # how long a v4.6 oximeter's measure() waits for the host's start command


class SimulatedDevice:
    """A device of kind ``driver`` on a pseudo-terminal; ``seed`` makes its noise reproducible."""

    def __init__(self, driver: str, *, seed: int | None = None, noise: bool = False) -> None:
        self.driver = get_driver(driver)
        self.noise = noise
        self.start_timeout = START_TIMEOUT
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._directory = tempfile.mkdtemp(prefix="onestop-sim-")
        self.path = os.path.join(self._directory, f"tty-{self.driver.name}")
        self._master: int | None = None
        self._slave: int | None = None
        self._listener: threading.Thread | None = None
        self._listening = threading.Event()
        self._pn532 = Pn532Emulator(self._rng, noise) if self.driver.name == "pn532" else None
        self._v46 = ContecV46Emulator() if self.driver.name == "cms50d-v46" else None
        self.replug()

    # -- life cycle ----------------------------------------------------------------------------------------

    @property
    def plugged(self) -> bool:
        """True while the pseudo-terminal exists and ``path`` leads to it."""
        return self._master is not None

    def replug(self) -> None:
        """Plug the device (back) in: a fresh pty at the same ``path``."""
        with self._lock:
            if self.plugged:
                return
            master, slave = os.openpty()
            tty.setraw(slave)  # until a reader configures the port, no echo and no line editing
            os.set_blocking(master, False)
            link = self.path + ".new"
            os.symlink(os.ttyname(slave), link)
            os.replace(link, self.path)
            self._master, self._slave = master, slave
            # A device that lost power forgets everything: a card held before, a start command.
            if self._pn532 is not None:
                self._pn532 = Pn532Emulator(self._rng, self.noise)
            if self._v46 is not None:
                self._v46 = ContecV46Emulator()
            if self._pn532 is not None or self._v46 is not None:
                self._listening.set()
                self._listener = threading.Thread(
                    target=self._listen, name=f"sim {self.driver.name}", daemon=True
                )
                self._listener.start()

    def unplug(self) -> None:
        """Pull the device out: the reader's port fails and ``path`` disappears."""
        self._listening.clear()
        if self._listener is not None:
            self._listener.join(1.0)
            self._listener = None
        with self._lock:
            if not self.plugged:
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)  # type: ignore[arg-type]
            self._master = self._slave = None
            self._changed.notify_all()

    def close(self) -> None:
        """Unplug and remove the temporary directory."""
        self.unplug()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> SimulatedDevice:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what a person does --------------------------------------------------------------------------------

    def tap(self, card: str, *, timeout: float = 2.0) -> bool:
        """Present ``card`` to a card reader; True once the reader's bytes for it were written.

        For the PN532 that is when the host's poll was answered (up to ``timeout`` seconds).
        """
        if self.driver.kind is not PeripheralKind.CARD_READER:
            raise TypeError(f"{self.driver.name} is not a card reader; use measure()")
        if self._pn532 is None:
            return self._play(tap_steps(self.driver.name, card, self._rng, self.noise))
        deadline = time.monotonic() + timeout
        with self._lock:
            if not self.plugged:
                return False
            polls = self._rng.randint(2, 4) if self.noise else 1
            self._write(self._pn532.present(card, polls))
            ticket = self._pn532.presented
            while self._pn532.answered < ticket and self.plugged:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return self._pn532.answered >= ticket

    def measure(self, **values: Any) -> bool:
        """Take a measurement and send it; True if it was written (False when unplugged or not started).

        Values by driver: ``cms50d``/``cms50d-v46``: spo2, pulse (seconds=1.0 of valid packets);
        ``and-scale``: weight; ``tanita``: weight, height, bmi, body_fat; ``gatt-bp``: systolic,
        diastolic, pulse, mean, kpa; ``gatt-temp``: temperature, fahrenheit.
        """
        check_values(self.driver.name, values)
        if self._v46 is not None and not self._wait_for_start(self.start_timeout):
            return False
        return self._play(measure_steps(self.driver.name, values, self._rng, self.noise))

    def write(self, data: bytes) -> bool:
        """Write raw bytes to the line (for tests that need a particular stream)."""
        with self._lock:
            return self._write(data)

    # -- internals ------------------------------------------------------------------------------------------

    def _play(self, steps: list[Step]) -> bool:
        written = True
        for step in steps:
            if step.delay:
                time.sleep(step.delay)
            with self._lock:
                if not self.plugged:
                    return False
                written = self._write(step.data) and written
        return written

    def _write(self, data: bytes) -> bool:
        """Write without blocking; a full line drops the rest, like a UART nobody reads."""
        if self._master is None:
            return False
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                return False
            except OSError:
                return False
        return True

    def _wait_for_start(self, timeout: float) -> bool:
        assert self._v46 is not None
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._v46.streaming(time.monotonic()):
                left = deadline - time.monotonic()
                if left <= 0 or not self.plugged:
                    return False
                self._changed.wait(min(left, 0.1))
            return True

    def _listen(self) -> None:
        """Read what the host writes and answer it (conversational devices only)."""
        while self._listening.is_set():
            master = self._master
            if master is None:
                return
            try:
                ready, _, _ = select.select([master], [], [], LISTEN_INTERVAL)
                data = os.read(master, 4096) if ready else b""
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return  # the pty was closed under us: unplugged
            if not data:
                continue
            with self._lock:
                if self._pn532 is not None:
                    self._write(self._pn532.receive(data))
                if self._v46 is not None:
                    self._v46.receive(data, time.monotonic())
                self._changed.notify_all()
