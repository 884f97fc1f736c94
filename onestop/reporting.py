"""How commands report our errors: a clear line on standard error, exit 2 for configuration, 65 for damaged
data (a corrupt database or key: the systemd units do not restart on it), 1 otherwise.

Messages are printed as plain text, never as rich markup: a configuration error quoting a pattern such as
``^[a-z0-9][a-z0-9-]{0,31}$`` lost its brackets to markup before.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from onestop.errors import ConfigError, CorruptDataError, OnestopError

_err = Console(stderr=True)

# Third-party modules that only an optional extra installs: top-level module -> (what it is, extra).
EXTRAS = {"kivy": ("Kivy", "kiosk"), "sqlalchemy": ("SQLAlchemy", "central"), "psycopg": ("psycopg", "central"),
          "cryptography": ("cryptography", "provisioning"), "qrcode": ("qrcode", "provisioning"),
          "PIL": ("Pillow", "provisioning")}
MISSING_EXTRA_EXIT = 3
# sysexits.h EX_DATAERR. Listed in every unit's RestartPreventExitStatus=: restarting finds the same damage.
CORRUPT_DATA_EXIT = 65


def error(message: str) -> None:
    """Print ``error: message`` on standard error, the message taken literally."""
    _err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """What to tell the user when ``exc`` is an optional dependency that is not installed (else None)."""
    top = (exc.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    what, extra = EXTRAS[top]
    return f"{what} is not installed; this command needs the '{extra}' extra: pip install 'onestop-edge[{extra}]'"


@contextmanager
def reported() -> Iterator[None]:
    """Our errors, and a missing optional dependency, end the command with a message and no traceback."""
    try:
        yield
    except OnestopError as exc:
        error(str(exc))
        status = 2 if isinstance(exc, ConfigError) else CORRUPT_DATA_EXIT if isinstance(exc, CorruptDataError) else 1
        raise typer.Exit(status) from exc
    except ModuleNotFoundError as exc:
        message = missing_extra(exc)
        if message is None:
            raise
        error(message)
        raise typer.Exit(MISSING_EXTRA_EXIT) from exc


# The ``--config`` option of every ``<component> run`` command, stated once.
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="TOML configuration file.", exists=True,
                                            dir_okay=False, readable=True)]


class LogFormat(StrEnum):
    """How log lines look: ``auto`` is ``plain`` under systemd (journald stamps each line) else ``text``."""

    AUTO = "auto"
    TEXT = "text"    # time, level, logger, message: a terminal or a plain log file
    PLAIN = "plain"  # level, logger, message: journald adds the time (and the unit) itself
    JSON = "json"    # one JSON object a line; with a time only when no journal stamps it


class _JsonFormatter(logging.Formatter):
    def __init__(self, timestamped: bool) -> None:
        super().__init__()
        self.timestamped = timestamped

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if self.timestamped:
            line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), **line}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _DemoteToDebug(logging.Filter):
    """httpx logs every request at INFO: a gateway syncing each second would fill the journal with them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(record.levelno)


def configure_logging(level: str, log_format: LogFormat = LogFormat.AUTO,
                      environ: Mapping[str, str] | None = None) -> None:
    """Set up logging for the whole process, once, for every command (``onestop.cli``)."""
    journal = bool((os.environ if environ is None else environ).get("JOURNAL_STREAM"))
    if log_format is LogFormat.AUTO:
        log_format = LogFormat.PLAIN if journal else LogFormat.TEXT
    handler = logging.StreamHandler()
    if log_format is LogFormat.JSON:
        handler.setFormatter(_JsonFormatter(timestamped=not journal))
    else:
        stamp = "%(asctime)s " if log_format is LogFormat.TEXT else ""
        handler.setFormatter(logging.Formatter(stamp + "%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    httpx = logging.getLogger("httpx")
    if not any(isinstance(f, _DemoteToDebug) for f in httpx.filters):
        httpx.addFilter(_DemoteToDebug())
