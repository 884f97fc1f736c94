"""Errors of the central service.

    OnestopError
    └── CentralError
        ├── StoreError            the database refused or cannot be used: a server-side problem (5xx)
        │   └── MigrationError    the schema cannot be brought up to date: fail at start-up
        ├── KeyFileError          the pseudonym key file is unusable (unreadable, malformed, open to others)
        └── RequestError          the caller asked for something that cannot be answered (4xx)
            ├── NotFoundError     an unknown site, space or configuration (404)
            └── ForbiddenError    the caller's token may not act for that site (403)

HTTP routes map ``RequestError`` subclasses to their status codes once, in ``central.api``.
"""

from __future__ import annotations

from onestop.errors import OnestopError


class CentralError(OnestopError):
    """Base of the central service's errors."""


class StoreError(CentralError):
    """The database cannot do what was asked."""


class MigrationError(StoreError):
    """The schema cannot be migrated to the version this code needs."""


class KeyFileError(CentralError):
    """The pseudonym key file cannot be used: central refuses to start rather than pseudonymise badly."""


class RequestError(CentralError):
    """A request that cannot be answered as asked; ``status`` is the HTTP status to answer with."""

    status = 400


class NotFoundError(RequestError):
    """The site, space or record does not exist."""

    status = 404


class ForbiddenError(RequestError):
    """The caller is authenticated but may not act on this resource."""

    status = 403


class DirectoryFileError(CentralError):
    """A card directory file that cannot be read as a whole (too large, not UTF-8, its header lacks a column)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
