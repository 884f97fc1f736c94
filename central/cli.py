"""``onestop central``: the central service's command group (dispatched to by ``onestop.cli``)."""

from __future__ import annotations

import typer

from onestop.reporting import ConfigOption, reported

app = typer.Typer(help="The central campus service.", no_args_is_help=True)


@app.command("run")
def run_command(config: ConfigOption) -> None:
    """Run the central service until interrupted."""
    from central.service import run

    with reported():
        run(config)
