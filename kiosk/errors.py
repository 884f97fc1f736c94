"""Errors of the kiosk, split by what the caller should do: try again later, or refuse.

    OnestopError
    ├── KioskError                  base of the kiosk's own errors
    │   └── NotRecordedError        RETRY: the outbox could not make an event durable (disk full, database
    │                               locked or read-only). Nothing was promised: a tap says "not recorded, please
    │                               try again" and changes nothing; a screening record or a fault event waits in
    │                               memory and is written again every second until it fits (``KioskRuntime``).
    ├── ConfigError                 REJECT (onestop.errors): a cfg message or section that does not validate;
    │                               the last good configuration stays, the refusal is counted in heartbeats.
    └── ScreeningInputError         REJECT (onestop.clinical): a value no rule can judge (a height of 0, an
                                    answer of 7); nothing is recorded, the screen asks again.

``sqlite3.Error`` from the outbox is mapped to ``NotRecordedError`` once, where the runtime appends
(``recording_failed``); nothing else in the kiosk catches SQLite's exceptions for the outbox.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from onestop.errors import OnestopError
from onestop.sqlite import storage_error


class KioskError(OnestopError):
    """Base of the kiosk's own errors."""


class NotRecordedError(KioskError):
    """An event the outbox could not make durable; trying again can succeed once storage is back."""

    def __init__(self, event_type: str, reason: str) -> None:
        super().__init__(f"{event_type} not recorded: {reason}")
        self.event_type = event_type


def recording_failed(event_type: str, outbox: Path, exc: sqlite3.Error) -> NotRecordedError:
    """Our error for an outbox write SQLite refused (a full disk named as such)."""
    storage = storage_error(outbox, exc)
    return NotRecordedError(event_type, str(storage) if storage else f"{outbox} not written ({exc})")
