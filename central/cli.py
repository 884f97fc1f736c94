"""``onestop central``: the central service's command group (dispatched to by ``onestop.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onestop.reporting import ConfigOption, reported

app = typer.Typer(help="The central campus service.", no_args_is_help=True)


@app.command("run")
def run_command(config: ConfigOption) -> None:
    """Run the central service until interrupted."""
    from central.service import run

    with reported():
        run(config)


directory_app = typer.Typer(help="The card directory: who a card belongs to, and whether it may be used.",
                            no_args_is_help=True)
app.add_typer(directory_app, name="directory")


@directory_app.command("import")
def directory_import(
        file: Annotated[Path, typer.Argument(help="CSV: id,kind,email,cards,status,groups (docs/integration.md)",
                                             exists=True, dir_okay=False, readable=True)],
        config: ConfigOption,
        by: Annotated[str, typer.Option(help="who imports, for the record (default: the file's name)")] = "") -> None:
    """Import cardholders from a CSV file: an idempotent upsert; every bad row is reported, none stops the rest.

    Exit status 1 when a row was bad (the good rows are imported all the same)."""
    from central.directory_import import run_import

    with reported():
        raise typer.Exit(run_import(file, config, by or f"csv:{file.name}"))
