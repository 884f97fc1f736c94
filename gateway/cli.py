"""``onestop gateway``: the building gateway's command group (dispatched to by ``onestop.cli``)."""

from __future__ import annotations

import typer

from onestop.reporting import ConfigOption, reported

app = typer.Typer(help="The building gateway.", no_args_is_help=True)


@app.command("run")
def run_command(config: ConfigOption) -> None:
    """Run a building gateway until interrupted."""
    from gateway.service import run

    with reported():
        run(config)
