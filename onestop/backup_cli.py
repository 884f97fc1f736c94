"""What the ``backup`` and ``restore`` commands of every component share: options, progress, summaries, and the
whole command of a service (gateway, central) that loads its settings and runs its own ``backup``/``restore``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from onestop.backups import Manifest
from onestop.backups import Progress as ProgressCallback
from onestop.reporting import reported

_err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

DestArgument = Annotated[Path, typer.Argument(help="The archive file to write (0600), e.g. "
                                                   "/var/backups/onestop/gateway-2026-12-07.tar.",
                                              dir_okay=False, show_default=False)]
SourceArgument = Annotated[Path, typer.Argument(help="The archive to restore from.", exists=True, dir_okay=False,
                                                readable=True, show_default=False)]
IncludeKeysOption = Annotated[bool, typer.Option("--include-keys", help="Also the key files (presence, data or "
                                                 "pseudonym keys): kept out of a data backup unless asked for; "
                                                 "store such an archive apart from the data backups.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace a non-empty data directory, database or "
                                           "key: what is there is moved aside (NAME.replaced-TIME), not deleted.")]


@contextmanager
def progress_bar() -> Iterator[ProgressCallback]:
    """A rich progress bar on standard error, driven by the backup modules' callback."""
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=_err,
                  transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total or None)
            bar.update(tasks[what], completed=done, total=total or None)
        yield update


def summary(manifest: Manifest, dest: Path) -> None:
    """Say what an archive holds, and where keys went."""
    size = sum(int(f["bytes"]) for f in manifest.files.values())
    typer.echo(f"{manifest.service} backup of {manifest.site or 'the campus'} written to {dest}: "
               f"{len(manifest.files)} file(s), {size:,} bytes, release {manifest.version}")
    if manifest.keys:
        _err.print(f"note: it holds key(s) ({', '.join(manifest.keys)}): keep it offline, apart from the data "
                   "backups, readable by the administrators only")
    else:
        _err.print("note: no keys in it (pass --include-keys to back them up, separately)")


def restored(manifest: Manifest, moved: list[Path], where: str) -> None:
    """Say what was restored and what was moved aside."""
    typer.echo(f"restored the {manifest.service} backup of {manifest.site or 'the campus'} made {manifest.created} "
               f"(release {manifest.version}) into {where}")
    for path in moved:
        _err.print(f"note: what was there is now {path}: delete it once the service runs as it should")


def service_backup(load: Callable[[Path], Any], backup: Callable[..., Manifest], config: Path,
                   dest: Path, include_keys: bool) -> None:
    """``onestop gateway|central backup``: load the service's settings, back up with a progress bar, summarise."""
    with reported():
        settings = load(config)
        with progress_bar() as progress:
            manifest = backup(settings, dest, include_keys=include_keys, progress=progress)
        summary(manifest, dest)


def service_restore(load: Callable[[Path], Any], restore: Callable[..., tuple[Manifest, list[Path]]],
                    where: Callable[[Any], str], config: Path, source: Path, force: bool,
                    include_keys: bool) -> None:
    """``onestop gateway|central restore``: load the settings, restore, say what went where (``where(settings)``)."""
    with reported():
        settings = load(config)
        manifest, moved = restore(settings, source, force=force, include_keys=include_keys)
        restored(manifest, moved, where(settings))
