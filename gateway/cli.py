"""``onestop gateway``: the building gateway's command group (dispatched to by ``onestop.cli``)."""

from __future__ import annotations

import typer

from onestop.reporting import ConfigOption, reported
from sealing.cli import app as data_key_app

app = typer.Typer(help="The building gateway.", no_args_is_help=True)
app.add_typer(data_key_app, name="data-key")


@app.command("run")
def run_command(config: ConfigOption) -> None:
    """Run a building gateway until interrupted."""
    from gateway.service import run

    with reported():
        run(config)
