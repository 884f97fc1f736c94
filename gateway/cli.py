"""``onestop gateway``: the building gateway's command group (dispatched to by ``onestop.cli``)."""

from __future__ import annotations

import typer

from onestop.backup_cli import (
    DestArgument,
    ForceOption,
    IncludeKeysOption,
    SourceArgument,
    service_backup,
    service_restore,
)
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


@app.command("backup")
def backup_command(config: ConfigOption, dest: DestArgument, include_keys: IncludeKeysOption = False) -> None:
    """Back up the gateway's data directory while it runs (SQLite online backup) into one archive."""
    from gateway.backup import backup
    from gateway.settings import load

    service_backup(load, backup, config, dest, include_keys)


@app.command("restore")
def restore_command(config: ConfigOption, source: SourceArgument, force: ForceOption = False,
                    include_keys: IncludeKeysOption = False) -> None:
    """Restore a backup into the (stopped) gateway's data directory, after checking it is whole and this site's."""
    from gateway.backup import restore
    from gateway.settings import load

    service_restore(load, restore, lambda settings: str(settings.data_dir), config, source, force, include_keys)
