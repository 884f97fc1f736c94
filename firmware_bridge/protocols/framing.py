"""Shared machinery of the sans-I/O parsers: a bounded receive buffer and honest accounting of bad bytes.

Invariants every parser built on ``StreamParser`` keeps:
- ``feed(data)`` never raises on any input and returns the events completed by that input, in stream order;
- the events for a stream do not depend on how it was chunked (whole, byte by byte, random pieces);
- the buffer never holds more than ``max_buffer`` bytes, whatever arrives;
- every byte that is not part of a good frame is counted exactly once, either in a rejected frame or in a
  ``garbage`` report. Garbage is reported when a frame start ends the run, in units of at most
  ``GARBAGE_UNIT`` bytes (so reports do not depend on chunking), and by ``finish()`` at end of stream.

A subclass implements ``_scan()``: look at ``self._buffer``, and for each decision call ``_skip`` (bytes
that cannot start a frame), ``_reject`` (a bad frame) or ``_consume`` (a good frame, after which it
appends its own events). ``_scan`` must leave a possible frame prefix in the buffer and return when it
needs more bytes.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

from firmware_bridge.readings import Event, FrameRejected

GARBAGE_UNIT = 256


class StreamParser(ABC):
    """Base class for parsers fed bytes in any chunking (see the module docstring)."""

    max_frame: int = 64  # overridden by each protocol

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0  # absolute stream position of self._buffer[0]
        self._reported_until = 0  # bytes before this position were already counted in a rejection
        self._garbage = 0
        self._events: list[Event] = []

    @property
    def buffered(self) -> int:
        """Bytes currently held while waiting for the rest of a frame."""
        return len(self._buffer)

    @property
    def max_buffer(self) -> int:
        """Upper bound of ``buffered`` after any ``feed``."""
        return self.max_frame

    def feed(self, data: bytes) -> list[Event]:
        """Take the next bytes of the stream; return the events they complete."""
        self._buffer += data
        self._scan()
        return self._take()

    def flush(self) -> list[Event]:
        """The line went quiet: a frame still waiting for bytes will not be completed.

        Reports it as ``incomplete`` and looks for frames in what it held: a false start (say a start
        code inside a damaged frame, with a plausible length) must not hide the good frames behind it.
        Garbage counted so far is reported too. Conversations call this when the line goes quiet;
        ``finish`` is the same at end of stream.
        """
        while self._buffer:
            self._reject("incomplete", len(self._buffer), consume=1)
            self._scan()
        self._flush_garbage()
        return self._take()

    def finish(self) -> list[Event]:
        """End of stream: report a frame cut short and any trailing garbage."""
        return self.flush()

    @property
    def unexplained(self) -> int:
        """Bytes received since the last frame that are neither a frame nor reported yet."""
        return len(self._buffer) + self._garbage

    # -- for subclasses -------------------------------------------------------------------------------

    @abstractmethod
    def _scan(self) -> None:
        """Take every complete frame off the buffer (each protocol's own framing)."""

    def _emit(self, event: Event) -> None:
        self._flush_garbage()
        self._events.append(event)

    def _skip(self, count: int) -> None:
        """Drop ``count`` bytes that are not part of any frame."""
        if count <= 0:
            return
        end = self._offset + count
        fresh = end - max(self._offset, self._reported_until)
        if fresh > 0:
            self._garbage += fresh
            while self._garbage >= GARBAGE_UNIT:
                self._events.append(FrameRejected("garbage", GARBAGE_UNIT))
                self._garbage -= GARBAGE_UNIT
        self._drop(count)

    def _reject(self, reason: str, size: int, *, consume: int) -> None:
        """Report a bad frame of ``size`` bytes and drop ``consume`` of them.

        Dropping fewer bytes than the frame holds lets the scan look for a good frame inside the bad one
        (resynchronisation); those bytes are then not counted a second time as garbage.
        """
        self._emit(FrameRejected(reason, size))
        self._reported_until = max(self._reported_until, self._offset + size)
        self._drop(consume)

    def _ignore(self, count: int) -> None:
        """Drop bytes the format allows between frames (line ends): neither garbage nor a frame."""
        self._reported_until = max(self._reported_until, self._offset + count)
        self._drop(count)

    def _consume(self, count: int) -> None:
        """Drop a good frame of ``count`` bytes (its events are emitted by the caller)."""
        self._flush_garbage()
        self._reported_until = max(self._reported_until, self._offset + count)
        self._drop(count)

    # -- internals ------------------------------------------------------------------------------------

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self._offset += count

    def _flush_garbage(self) -> None:
        if self._garbage:
            self._events.append(FrameRejected("garbage", self._garbage))
            self._garbage = 0

    def _take(self) -> list[Event]:
        events, self._events = self._events, []
        return events


_LINE_END = re.compile(rb"[\r\n]")


class LineParser(StreamParser):
    """Base class for line-oriented formats: a line ends at CR, LF or CR LF; empty lines are ignored.

    A line longer than ``max_line`` is rejected as ``overlong`` and the rest of it is skipped up to the
    next line end, so one missing terminator costs one line, not the following ones.
    """

    max_line: int = 64

    def __init__(self) -> None:
        super().__init__()
        self._discarding = 0  # > 0 while skipping the rest of an overlong line

    @property
    def max_buffer(self) -> int:
        return self.max_line

    def flush(self) -> list[Event]:
        # A line cannot hide another line (it would contain a line end), so the rest is simply reported.
        if self._discarding:
            self._emit(FrameRejected("overlong", self._discarding + len(self._buffer)))
            self._reported_until = self._offset + len(self._buffer)
            self._drop(len(self._buffer))
            self._discarding = 0
        elif self._buffer:
            self._reject("incomplete", len(self._buffer), consume=len(self._buffer))
        self._flush_garbage()
        return self._take()

    def _scan(self) -> None:
        while self._buffer:
            end = _LINE_END.search(self._buffer)
            if self._discarding:
                if end is None:
                    self._discarding += len(self._buffer)
                    self._reported_until = self._offset + len(self._buffer)
                    self._drop(len(self._buffer))
                    return
                self._emit(FrameRejected("overlong", self._discarding + end.start()))
                self._reported_until = self._offset + end.start()
                self._drop(end.start())
                self._discarding = 0
                continue
            if end is None:
                if len(self._buffer) > self.max_line:
                    self._discarding = len(self._buffer)
                    self._reported_until = self._offset + len(self._buffer)
                    self._drop(len(self._buffer))
                return
            position = end.start()
            if position == 0:
                self._consume(1)  # a line end on its own: the LF of CR LF, or a blank line
                continue
            if position > self.max_line:
                self._reject("overlong", position, consume=position)
                continue
            line = bytes(self._buffer[:position])
            self._consume(position + 1)
            self._line(line)

    @abstractmethod
    def _line(self, line: bytes) -> None:
        """Handle one complete, non-empty line (without its terminator)."""
