"""Errors of the firmware bridge.

    OnestopError
    └── BridgeError
        ├── UnknownDriverError   a driver name that is not in the registry: fix the configuration
        ├── PortError            a serial or input device could not be used: the runtime retries
        └── EncodeError          values a device format cannot carry (encoders and simulators)

Parsers never raise on bad input; they report ``FrameRejected`` events instead.
"""

from __future__ import annotations

from onestop.errors import OnestopError


class BridgeError(OnestopError):
    """Base of every error the firmware bridge raises on purpose."""


class UnknownDriverError(BridgeError, KeyError):
    """A driver name that is not registered; ``valid`` lists the names that are."""

    def __init__(self, name: str, valid: list[str]) -> None:
        self.name = name
        self.valid = valid
        super().__init__(f"unknown driver {name!r}; valid drivers: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


class PortError(BridgeError):
    """A port that could not be opened, read or written; transient, so the runtime retries."""


class EncodeError(BridgeError, ValueError):
    """Values that the chosen device format cannot represent."""
