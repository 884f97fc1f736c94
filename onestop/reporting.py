"""How commands report our errors: a clear line on standard error, exit 2 for configuration, 1 otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from onestop.errors import ConfigError, OnestopError

_err = Console(stderr=True)


@contextmanager
def reported() -> Iterator[None]:
    """Our errors end the command with their message and no traceback."""
    try:
        yield
    except OnestopError as exc:
        _err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from exc
