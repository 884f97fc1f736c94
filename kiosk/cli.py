"""``onestop kiosk``: the kiosk and health station's command group (dispatched to by ``onestop.cli``).

``kiosk.service`` is imported inside the command: ``--help`` works on a machine without Kivy.
"""

from __future__ import annotations

from typing import Annotated

import typer

from onestop.reporting import ConfigOption, reported
from sealing.cli import app as data_key_app

app = typer.Typer(help="Kiosks and health stations.", no_args_is_help=True)
app.add_typer(data_key_app, name="data-key")


@app.command("run")
def run_command(config: ConfigOption,
                headless: Annotated[bool, typer.Option(help="Run without a screen.")] = False,
                fullscreen: Annotated[bool, typer.Option(help="Fill the screen (the kiosk's normal mode); "
                                                              "default: a window of the configured size.")] = False,
                ) -> None:
    """Run a kiosk or health station."""
    from kiosk.service import run

    with reported():
        run(config, headless=headless, fullscreen=fullscreen)
