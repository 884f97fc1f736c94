"""``onestop central``: the central service's command group (dispatched to by ``onestop.cli``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

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

app = typer.Typer(help="The central campus service.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens for machines and scripts (people sign in through the campus IdP).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")

DaysOption = Annotated[int, typer.Option("--days", min=1, max=3650, help="Days the new token is valid.")]


@app.command("run")
def run_command(config: ConfigOption) -> None:
    """Run the central service until interrupted."""
    from central.service import run

    with reported():
        run(config)


@app.command("backup")
def backup_command(config: ConfigOption, dest: DestArgument, include_keys: IncludeKeysOption = False) -> None:
    """Back up central's database while it runs (SQLite online backup, or pg_dump -Fc) into one archive."""
    from central.backup import backup
    from central.settings import load

    service_backup(load, backup, config, dest, include_keys)


@app.command("restore")
def restore_command(config: ConfigOption, source: SourceArgument, force: ForceOption = False,
                    include_keys: IncludeKeysOption = False) -> None:
    """Restore a backup into central's (stopped, fresh) database, after checking the archive is whole."""
    from central.backup import restore
    from central.settings import load

    service_restore(load, restore, lambda settings: settings.database_url.split("@")[-1], config, source, force,
                    include_keys)  # the database, without its credentials


@token_app.command("issue")
def token_issue(name: Annotated[str, typer.Argument(help="The holder, as logs and the audit log name it.")],
                role: Annotated[str, typer.Option(help="Role: gateway, staff, clinic, counselling, facilities, "
                                                       "technician or admin.")],
                site: Annotated[str | None, typer.Option(help="A gateway token's one site.")] = None,
                days: DaysOption = 90) -> None:
    """Issue a new token: prints it (shown only now) and the configuration entry that admits it."""
    from onestop.errors import ConfigError
    from onestop.roles import Role, entry_toml, new_token

    with reported():
        try:
            token, entry = new_token(name, Role(role), site, datetime.now(UTC) + timedelta(days=days))
        except ValueError as exc:
            raise ConfigError("token issue", [str(exc)]) from exc
        typer.echo(f"# the token, shown only now (give it to {name}):\n{token}\n")
        typer.echo("# add to the service's configuration:")
        typer.echo(entry_toml(entry))


@token_app.command("rotate")
def token_rotate(config: ConfigOption,
                 name: Annotated[str, typer.Argument(help="The holder whose token is replaced.")],
                 days: DaysOption = 90,
                 overlap_days: Annotated[int, typer.Option(min=0, max=90, help="Days the old token is still "
                                                                                "accepted.")] = 7) -> None:
    """Rotate a holder's token in CONFIG (central.toml or gateway.toml): prints the new token and the holder's
    entries to put in place of the old ones (the old token expires after the overlap)."""
    from onestop.errors import ConfigError
    from onestop.roles import entry_toml, rotate

    with reported():
        entries = _token_entries(config)
        try:
            token, entry, old = rotate(entries, name, datetime.now(UTC), timedelta(days=days),
                                       timedelta(days=overlap_days))
        except ValueError as exc:
            raise ConfigError(str(config), [str(exc)]) from exc
        typer.echo(f"# the new token, shown only now (give it to {name}):\n{token}\n")
        typer.echo(f"# in {config}, replace the entries named {name!r} with these:")
        typer.echo("\n\n".join(entry_toml(e) for e in [*old, entry]))


def _token_entries(config: Path) -> list:
    """The ``[[tokens]]`` of a service's configuration file, validated."""
    import tomllib

    from pydantic import TypeAdapter, ValidationError

    from onestop.errors import ConfigError
    from onestop.roles import TokenEntry

    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
        return TypeAdapter(list[TokenEntry]).validate_python(data.get("tokens", []))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(str(config), [f"tokens: {exc}"]) from exc


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
