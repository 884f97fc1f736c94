"""``onestop central directory import``: a CSV file into the card directory, with a progress bar and a report.

The shell around ``central.directory.parse`` (pure) and ``central.directory_store.Directory`` (the database):
reads the file (bounded), upserts good rows in chunks while a rich progress bar runs, then prints a table of
every bad row (line number and reason; never a card number) and the totals.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from central.directory import MAX_FILE_BYTES, BadRow, Cardholder, CsvFormatError, parse, read_text
from central.directory_store import CHUNK, Directory, DirectoryChanges
from central.errors import DirectoryFileError
from central.pseudonyms import Pseudonyms
from central.settings import load
from central.store import CentralStore


def run_import(file: Path, config: Path | None, by: str, console: Console | None = None) -> int:
    """Import ``file``; returns the exit status (0: every row imported, 1: some rows were bad)."""
    console = console or Console(stderr=True)
    if file.stat().st_size > MAX_FILE_BYTES:
        raise DirectoryFileError(str(file), f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: split it")
    try:
        text = read_text(file.read_bytes())
    except CsvFormatError as exc:
        raise DirectoryFileError(str(file), str(exc)) from None
    total = max(text.getvalue().count("\n"), 1)
    settings = load(config)
    store = CentralStore(settings.database_url)
    directory = Directory(store.db, Pseudonyms.from_file(settings.pseudonym_key_file))
    bad: list[BadRow] = []
    result = DirectoryChanges()
    pending: list[Cardholder] = []
    columns = (TextColumn("importing {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(file.name, total=total)
            try:
                for line, row in parse(text):
                    if isinstance(row, BadRow):
                        bad.append(row)
                    else:
                        pending.append(row)
                    if len(pending) >= CHUNK:
                        result.add(directory.upsert(pending, by))
                        pending = []
                    progress.update(task, completed=line)
            except CsvFormatError as exc:
                raise DirectoryFileError(str(file), str(exc)) from None
            if pending:
                result.add(directory.upsert(pending, by))
            progress.update(task, completed=total)
    finally:
        store.close()
    if bad:
        table = Table(title=f"{len(bad)} row(s) not imported", show_lines=False)
        table.add_column("line", justify="right")
        table.add_column("reason")
        for row in bad:
            table.add_row(str(row.line), escape(row.reason))
        console.print(table)
    console.print(f"cardholders: {result.added} added, {result.changed} changed, {result.unchanged} unchanged; "
                  f"cards withdrawn: {result.cards_withdrawn}, moved: {result.cards_moved}; bad rows: {len(bad)}")
    return 1 if bad else 0
