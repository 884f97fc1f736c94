"""``onestop kiosk data-key`` and ``onestop gateway data-key``: make and rotate a device's data key.

Rotation is two steps: ``rotate`` adds a new current key and keeps the previous one, then the next start of
the service reseals everything under the new key (the previous one stays readable meanwhile). Run it as the
service's user or as root: the file keeps its owner, so the service can still read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onestop.reporting import reported
from sealing import create_key_file, rotate_key_file

app = typer.Typer(help="The data key sealing personal fields at rest (docs/privacy.md, \"Keys\").",
                  no_args_is_help=True)

KeyPath = Annotated[Path, typer.Argument(help="the key file, e.g. /etc/onestop/data.key (never in the data "
                                              "directory)")]


@app.command("new")
def new_command(path: KeyPath) -> None:
    """Write a new data key file (0600); refuses to replace one."""
    with reported():
        kid = create_key_file(path)
    typer.echo(f"data key {kid} written to {path}; set data_key = \"{path}\" in the service's configuration")


@app.command("rotate")
def rotate_command(path: KeyPath) -> None:
    """Add a new current key; the service reseals its data under it on its next start."""
    with reported():
        kid = rotate_key_file(path)
    typer.echo(f"new data key {kid} in {path}; restart the service to reseal its data under it")
