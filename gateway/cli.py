"""``onestop gateway``: the building gateway's command group (dispatched to by ``onestop.cli``)."""

from __future__ import annotations

import typer

from onestop.backup_cli import DestArgument, ForceOption, IncludeKeysOption, SourceArgument
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
    from onestop.backup_cli import progress_bar, summary

    with reported():
        settings = load(config)
        with progress_bar() as progress:
            manifest = backup(settings, dest, include_keys=include_keys, progress=progress)
        summary(manifest, dest)


@app.command("restore")
def restore_command(config: ConfigOption, source: SourceArgument, force: ForceOption = False,
                    include_keys: IncludeKeysOption = False) -> None:
    """Restore a backup into the (stopped) gateway's data directory, after checking it is whole and this site's."""
    from gateway.backup import restore
    from gateway.settings import load
    from onestop.backup_cli import restored

    with reported():
        settings = load(config)
        manifest, moved = restore(settings, source, force=force, include_keys=include_keys)
        restored(manifest, moved, str(settings.data_dir))
