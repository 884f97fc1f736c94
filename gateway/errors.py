"""The gateway's errors: one base, split by what the caller should do about them.

    GatewayError
    ├── TransientError       trying the same again later can help: keep it, retry (with back-off)
    │   └── CentralUnreachable   no answer from central, or 5xx / 401 / 403 / 429
    └── RefusedError         the same again gets the same answer: count it, say so, do not retry soon
        ├── CentralRefused       central answered something no retry changes (a 404 from an older central)
        └── StoreClosedError     a write handed to a store that was closed (a late caller at shut-down)

Errors of the shared storage layer (``onestop.sqlite.StorageError``: a full disk, a read-only file; and
``sqlite3.Error``: the database busy) are transient for the gateway: the store commits all of a write or
nothing, so the caller may hand it in again as it was. ``is_transient`` says so in one place; ingest (which
then holds the batch unacknowledged) and sync (which then backs off) both ask it.
"""

from __future__ import annotations

import sqlite3

from onestop.errors import OnestopError
from onestop.sqlite import StorageError


class GatewayError(OnestopError):
    """Base of the errors the gateway raises on purpose."""


class TransientError(GatewayError):
    """Trying again later can help; nothing is lost meanwhile."""


class RefusedError(GatewayError):
    """Trying the same again gets the same answer."""


class CentralUnreachable(TransientError):
    """Central did not answer, or answered that it cannot take anything right now."""


class CentralRefused(RefusedError):
    """Central answered a whole request with something no retry changes."""


class StoreClosedError(RefusedError):
    """A write was handed to a store that has been closed."""


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same again later can help."""
    return isinstance(exc, TransientError | StorageError | sqlite3.Error)
