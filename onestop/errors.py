"""Errors shared by every package.

    OnestopError
    ├── ContractError        a message or topic breaks CONTRACT.md: reject it, never retry
    │   ├── TopicError
    │   └── EnvelopeError    (carries a short machine-readable ``reason``)
    ├── ConfigError          configuration is invalid: fail at start-up, listing every problem
    └── CorruptDataError     a file we keep (a database, a key) is damaged: stop, name it, never retry

Each package derives its own errors from ``OnestopError`` and splits them by what the caller should do.
"""

from __future__ import annotations


class OnestopError(Exception):
    """Base of every error this project raises on purpose."""


class ContractError(OnestopError):
    """Input that breaks the wire contract; the right answer is to reject it."""


class TopicError(ContractError):
    """A topic string that is not one of the contract's topics."""


class EnvelopeError(ContractError):
    """A payload that is not a valid event envelope.

    ``reason`` is a short stable slug (``invalid-json``, ``too-large``, ``schema``, ``device-mismatch``,
    ``type-mismatch``, ``version``) used for counting rejections; ``detail`` is for humans.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ConfigError(OnestopError):
    """Configuration that cannot be used; ``problems`` lists every one as ``path: message``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


class CorruptDataError(OnestopError):
    """A file the component keeps is damaged or empty; a person must move it aside or restore it.

    Commands exit with ``CORRUPT_DATA_EXIT`` on it, which the systemd units do not restart: a restart would
    only find the same damage again.
    """

    def __init__(self, path: object, problem: str, remedy: str) -> None:
        self.path = path
        super().__init__(f"{path} {problem}. {remedy}")
