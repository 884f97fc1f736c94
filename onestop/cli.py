"""The ``onestop`` command line: one entry point that dispatches to each component's own command group
(CONTRACT.md); the groups live in their packages (``gateway.cli``, ``kiosk.cli``, ``harness.cli`` …)."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

import onestop
from onestop.reporting import MISSING_EXTRA_EXIT, LogFormat, configure_logging, error, missing_extra


class _Components(TyperGroup):
    """The root group; each component package contributes its own command group, imported only when used.

    The table names modules, it does not import them: the contract package imports no component
    (pyproject ``[tool.importlinter]``), and a long-running service (``onestop gateway run``) does not carry
    the provisioning tool's certificate library or the bridge's serial drivers in its memory.
    """

    # name -> (module whose ``app`` it is, help, whether it is a group of commands or one command)
    COMPONENTS = {"gateway": ("gateway.cli", "The building gateway.", True),
                  "central": ("central.cli", "The central campus service.", True),
                  "kiosk": ("kiosk.cli", "Kiosks and health stations.", True),
                  "bridge": ("firmware_bridge.cli", "Device drivers and sensor nodes.", True),
                  "provision": ("provisioning.cli", "Registry, credentials, certificates and device bundles.", True),
                  "demo": ("harness.cli", None, False)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.COMPONENTS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.COMPONENTS:
            return super().get_command(ctx, cmd_name)
        module, text, group = self.COMPONENTS[cmd_name]
        app = importlib.import_module(module).app
        command = typer.main.get_group(app) if group else typer.main.get_command(app)
        command.name = cmd_name
        if text:
            command.help = text
        return command


app = typer.Typer(name="onestop", help="onestop-edge: kiosks, health stations, building gateways, campus service.",
                  no_args_is_help=True, pretty_exceptions_enable=False, cls=_Components)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"onestop-edge {onestop.__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          log_level: Annotated[str | None, typer.Option(help="Logging level: DEBUG, INFO, WARNING, ERROR "
                                                              "(default INFO; WARNING for the demo).")] = None,
          log_format: Annotated[LogFormat, typer.Option(help="Log lines: text (with a time), plain (without: "
                                                             "journald adds it), json (one object a line); auto "
                                                             "is plain under systemd, else text.")
                                ] = LogFormat.AUTO,
          version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                                callback=_version)] = False,
          ) -> None:
    """Set up logging once for every command."""
    default = "WARNING" if ctx.invoked_subcommand == "demo" else "INFO"
    configure_logging(log_level or default, log_format)


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
