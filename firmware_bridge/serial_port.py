"""The serial runtime: a driver's parser (and conversation) on a real port. The only module that
imports pyserial; its exceptions become ``PortError`` here and nowhere else.

    reader = SerialReader("/dev/ttyUSB0", "em4100", on_event=handle)   # handle(event) on the reader thread
    reader = SerialReader(port, "em4100", on_event=handle, on_card=tap) # or tap(card) for each new tap
    reader.start()
    ...
    reader.stop()                                                       # joins the thread within ~1 s

Each time the port opens, the driver gets a fresh ``Session`` (a passive parser, or a conversation that
wakes the device up again after a replug). Every loop turn reads what arrived (waiting at most
``read_timeout``), feeds it with the time, writes what the session says, and delivers the events.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import serial

from firmware_bridge.drivers import Driver, SerialSettings, get_driver
from firmware_bridge.errors import PortError
from firmware_bridge.reconnect import DEFAULT_WINDOW, CardCallback, EventCallback, ReconnectingReader

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


class SerialReader(ReconnectingReader):
    """Reads a device on ``port`` with ``driver``; events (and ``PortFault``/``PortRestored``) go to
    ``on_event``, card reads to ``on_card`` if given (see ``firmware_bridge.reconnect``). ``settings``
    overrides the driver's line settings (a device configured differently).
    """

    def __init__(
        self,
        port: str,
        driver: Driver | str,
        on_event: EventCallback,
        *,
        on_card: CardCallback | None = None,
        settings: SerialSettings | None = None,
        repeat_window: float = DEFAULT_WINDOW,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        read_timeout: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            port,
            on_event,
            on_card=on_card,
            repeat_window=repeat_window,
            retry_initial=retry_initial,
            retry_max=retry_max,
            clock=clock,
        )
        self.port = port
        self.driver = get_driver(driver) if isinstance(driver, str) else driver
        self.settings = settings or self.driver.serial
        self._read_timeout = read_timeout
        self._unopened().close()  # impossible line settings fail here, at start-up, not on every retry

    def _unopened(self) -> serial.Serial:
        line = self.settings
        if line.parity not in _PARITY:
            raise ValueError(f"parity must be one of {sorted(_PARITY)}, got {line.parity!r}")
        return serial.Serial(
            port=None,
            baudrate=line.baudrate,
            bytesize=line.bytesize,
            parity=_PARITY[line.parity],
            stopbits=line.stopbits,
            timeout=self._read_timeout,
            write_timeout=1.0,
            exclusive=True,
        )

    def _open(self) -> serial.Serial:
        handle = self._unopened()
        handle.port = self.port
        try:
            handle.open()
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"cannot open: {exc}") from exc
        return handle

    def _pump(self, handle: serial.Serial) -> None:
        session = self.driver.new_session()
        self._write(handle, session.start(self._clock()))
        while not self._stopping.is_set():
            try:
                data = handle.read(1)
                if data and handle.in_waiting:
                    data += handle.read(handle.in_waiting)
            except (serial.SerialException, OSError) as exc:
                raise PortError(f"read failed: {exc}") from exc
            events = session.feed(data, self._clock())
            self._write(handle, session.poll(self._clock()))
            for event in events:
                self._deliver(event)

    def _write(self, handle: serial.Serial, data: bytes) -> None:
        if not data:
            return
        try:
            handle.write(data)
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"write failed: {exc}") from exc

    def _close(self, handle: serial.Serial) -> None:
        with contextlib.suppress(serial.SerialException, OSError):  # the device may be gone already
            handle.close()
