"""The ``onestop`` command line: one entry point, one group per component (CONTRACT.md)."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

import onestop
from onestop.reporting import MISSING_EXTRA_EXIT, error, missing_extra, reported


class _Components(TyperGroup):
    """The root group; each component package contributes its own group, imported only when it is used.

    A long-running service (``onestop gateway run``) then does not carry the provisioning tool's certificate
    library or the bridge's serial drivers in its memory.
    """

    PACKAGE_GROUPS = {"bridge": ("firmware_bridge.cli", "Device drivers and sensor nodes."),
                      "provision": ("provisioning.cli", "Registry, credentials, certificates and device bundles.")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.PACKAGE_GROUPS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.PACKAGE_GROUPS:
            return super().get_command(ctx, cmd_name)
        module, text = self.PACKAGE_GROUPS[cmd_name]
        command = typer.main.get_group(importlib.import_module(module).app)
        command.name, command.help = cmd_name, text
        return command


app = typer.Typer(name="onestop", help="onestop-edge: kiosks, health stations, building gateways, campus service.",
                  no_args_is_help=True, pretty_exceptions_enable=False, cls=_Components)
gateway_app = typer.Typer(help="The building gateway.", no_args_is_help=True)
central_app = typer.Typer(help="The central campus service.", no_args_is_help=True)
kiosk_app = typer.Typer(help="Kiosks and health stations.", no_args_is_help=True)
app.add_typer(gateway_app, name="gateway")
app.add_typer(central_app, name="central")
app.add_typer(kiosk_app, name="kiosk")


ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="TOML configuration file.", exists=True,
                                            dir_okay=False, readable=True)]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"onestop-edge {onestop.__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          log_level: Annotated[str | None, typer.Option(help="Logging level: DEBUG, INFO, WARNING, ERROR "
                                                              "(default INFO; WARNING for the demo).")] = None,
          version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                                callback=_version)] = False,
          ) -> None:
    """Set up logging once for every command."""
    default = "WARNING" if ctx.invoked_subcommand == "demo" else "INFO"
    logging.basicConfig(level=(log_level or default).upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@gateway_app.command("run")
def gateway_run(config: ConfigOption) -> None:
    """Run a building gateway until interrupted."""
    from gateway.service import run

    with reported():
        run(config)


@central_app.command("run")
def central_run(config: ConfigOption) -> None:
    """Run the central service until interrupted."""
    from central.service import run

    with reported():
        run(config)


@kiosk_app.command("run")
def kiosk_run(config: ConfigOption,
              headless: Annotated[bool, typer.Option(help="Run without a screen.")] = False,
              fullscreen: Annotated[bool, typer.Option(help="Fill the screen (the kiosk's normal mode); "
                                                            "default: a window of the configured size.")] = False,
              ) -> None:
    """Run a kiosk or health station."""
    from kiosk.service import run

    with reported():
        run(config, headless=headless, fullscreen=fullscreen)


@app.command()
def demo(duration: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: run "
                                                              "until Ctrl-C).", min=1)] = None,
         data_dir: Annotated[Path | None, typer.Option(help="Keep the demo's data here (default: a fresh "
                                                            "temporary directory).", file_okay=False)] = None,
         speed: Annotated[float, typer.Option(help="Simulated minutes per real minute.", min=1, max=600)] = 60.0,
         exam_week: Annotated[bool, typer.Option(help="Simulate an exam week (study rooms overflow).")] = False,
         ui: Annotated[bool, typer.Option(help="Also open one real kiosk window.")] = False,
         seed: Annotated[int, typer.Option(help="Random seed for the simulated students.")] = 7,
         ) -> None:
    """The whole system on this machine: broker, central, gateway, simulated kiosks and a health station."""
    from onestop.demo import run_demo

    with reported():
        run_demo(duration=duration, data_dir=data_dir, speed=speed, exam_week=exam_week, ui=ui, seed=seed)


def main() -> None:
    """Console-script entry point."""
    # Component modules are imported inside their commands (and groups on first use), outside ``reported``:
    # a missing optional extra (Kivy, SQLAlchemy, cryptography) surfaces here.
    try:
        app()
    except ModuleNotFoundError as exc:
        message = missing_extra(exc)
        if message is None:
            raise
        error(message)
        sys.exit(MISSING_EXTRA_EXIT)
