"""Errors of the provisioning package, split by what the technician should do next.

    OnestopError
    └── ProvisioningError                 base: every command reports it as one red line, exit status 1
                                          (onestop/reporting.py, as every `onestop` command)
        ├── InvalidInputError             fix the argument and run again
        │   ├── InvalidIdError            a device, site or space id that breaks CONTRACT.md's pattern
        │   ├── UnknownSpaceError         the space is not in the site's ``spaces`` table
        │   └── ImportRowsError           a CSV import with bad rows (every row's problem is listed)
        ├── DuplicateError                the device or space already exists (ids are never reused)
        ├── NotFoundError                 no such device / space in the registry
        ├── StateError                    the device is in the wrong state (revoked, bundle already issued)
        ├── SiteDirectoryError            the provisioning directory is missing, uninitialised or already
        │                                 initialised (``init`` refuses without ``--force``)
        ├── BrokerReloadError             the files are written but the running broker could not be told
        │                                 (stale pid file, no permission); reload it by hand
        └── GatewayQueryError             the gateway's device list could not be fetched (``status`` then
                                          falls back to the registry alone)

Third-party exceptions (sqlite3, OSError from signalling, httpx) are mapped to these once, at the edge.
"""

from __future__ import annotations

from onestop.errors import OnestopError


class ProvisioningError(OnestopError):
    """Base of every error the provisioning commands raise on purpose."""


class InvalidInputError(ProvisioningError):
    """An argument or input file the technician has to correct."""


class InvalidIdError(InvalidInputError):
    """A device, site or space id that does not match its CONTRACT.md pattern."""


class UnknownSpaceError(InvalidInputError):
    """A space that the site has not declared (``onestop provision space add``)."""


class ImportRowsError(InvalidInputError):
    """A CSV import refused as a whole; ``problems`` lists ``row N: message`` for every bad row."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: nothing imported, {len(problems)} problem(s):\n{lines}")


class DuplicateError(ProvisioningError):
    """The id is already taken in this registry."""


class NotFoundError(ProvisioningError):
    """No such device or space in the registry."""


class StateError(ProvisioningError):
    """The device cannot do this in its current state."""


class SiteDirectoryError(ProvisioningError):
    """The provisioning directory is not usable for this command."""


class BrokerReloadError(ProvisioningError):
    """The broker's files were updated, but the running broker could not be signalled to re-read them."""


class GatewayQueryError(ProvisioningError):
    """The gateway's ``/api/v1/devices`` could not be read."""
