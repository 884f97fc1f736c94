"""``onestop bridge``: list the drivers, decode captured byte streams (CONTRACT.md, "bridge decode").

``decode`` writes one JSON object per reading to standard output, in stream order, and a one-line summary
of rejected and incomplete frames to standard error. It exits 0 whatever the bytes were; only input
that cannot be read (a missing file, a read error) makes it fail.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.table import Table

from firmware_bridge.drivers import DRIVERS, Driver
from firmware_bridge.readings import CardRead, DeviceStatus, Event, FrameRejected, MeasurementRead
from onestop.reporting import error

CHUNK = 64 * 1024

app = typer.Typer(
    help="Card readers and health devices on serial lines: drivers and stream decoding.",
    no_args_is_help=True,
)


@app.command("drivers")
def drivers_command() -> None:
    """List the device drivers with their device kind and serial settings."""
    table = Table(title="Device drivers")
    table.add_column("driver", style="bold")
    table.add_column("device")
    table.add_column("serial")
    table.add_column("host talks", justify="center")
    table.add_column("description")
    for driver in DRIVERS.values():
        table.add_row(
            driver.name,
            str(driver.kind),
            str(driver.serial),
            "yes" if driver.conversational else "",
            driver.description,
        )
    Console().print(table)


def _driver(name: str) -> Driver:
    if name not in DRIVERS:
        raise typer.BadParameter(
            f"unknown driver {name!r}; valid drivers: {', '.join(DRIVERS)}", param_hint="'--driver'"
        )
    return DRIVERS[name]


@app.command()
def decode(
    driver: Annotated[
        str,
        typer.Option("--driver", "-d", help="Driver that produced the bytes; `drivers` lists them."),
    ],
    source: Annotated[
        str, typer.Argument(help="File with the captured raw bytes, or - for standard input.")
    ] = "-",
    status: Annotated[
        bool,
        typer.Option(
            "--status/--no-status",
            help='Also print device states (finger out, unstable weight, ...) as {"kind": "status"} lines.',
        ),
    ] = False,
) -> None:
    """Decode a captured byte stream into readings, one JSON object per line."""
    chosen = _driver(driver)
    try:
        stream: BinaryIO = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    except OSError as exc:
        error(f"cannot read {source}: {exc.strerror or exc}")
        raise typer.Exit(1) from exc
    counts: Counter[str] = Counter()
    parser = chosen.parser()
    total = 0
    try:
        with stream if source != "-" else contextlib.nullcontext(stream):  # never close our stdin
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                _write(parser.feed(chunk), chosen, status, counts)
    except OSError as exc:
        _write(parser.finish(), chosen, status, counts)
        _summary(chosen, total, counts)
        error(f"reading {source} failed: {exc.strerror or exc}")
        raise typer.Exit(1) from exc
    _write(parser.finish(), chosen, status, counts)
    _summary(chosen, total, counts)


def _write(events: list[Event], driver: Driver, status: bool, counts: Counter[str]) -> None:
    lines = []
    for event in events:
        if isinstance(event, FrameRejected) and event.reason == "garbage":
            counts["garbage bytes"] += event.size
        elif isinstance(event, FrameRejected):
            counts[f"rejected:{event.reason}"] += 1
        elif isinstance(event, DeviceStatus):
            counts["states"] += 1
            if status:
                lines.append(json.dumps(event.to_json() | {"driver": driver.name}))
        elif isinstance(event, CardRead | MeasurementRead):
            counts["readings"] += 1
            lines.append(json.dumps(event.to_json() | {"driver": driver.name}))
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()  # a live pipe (cat /dev/ttyUSB0 | ...) shows readings as they come


def _summary(driver: Driver, total: int, counts: Counter[str]) -> None:
    rejected = {key.split(":", 1)[1]: n for key, n in sorted(counts.items()) if key.startswith("rejected:")}
    detail = ", ".join(f"{reason} {n}" for reason, n in rejected.items())
    typer.echo(
        f"{driver.name}: {total} bytes, {counts['readings']} readings, {counts['states']} device states, "
        f"{sum(rejected.values())} rejected or incomplete frames"
        + (f" ({detail})" if detail else "")
        + f", {counts['garbage bytes']} bytes of garbage",
        err=True,
    )


@app.command("run")
def run_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Sensor node TOML file.", exists=True, dir_okay=False)
    ],
) -> None:
    """Run a headless sensor node: serial sensors published as reading events."""
    from firmware_bridge.node import run
    from onestop.reporting import reported

    with reported():
        run(config)
