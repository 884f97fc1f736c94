"""``onestop demo``: the whole system on this machine (dispatched to by ``onestop.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onestop.reporting import reported

app = typer.Typer()


@app.command()
def demo(duration: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: run "
                                                              "until Ctrl-C).", min=1)] = None,
         data_dir: Annotated[Path | None, typer.Option(help="Keep the demo's data here (default: a fresh "
                                                            "temporary directory).", file_okay=False)] = None,
         speed: Annotated[float, typer.Option(help="Simulated minutes per real minute.", min=1, max=600)] = 60.0,
         exam_week: Annotated[bool, typer.Option(help="Simulate an exam week (study rooms overflow).")] = False,
         ui: Annotated[bool, typer.Option(help="Also open one real kiosk window.")] = False,
         seed: Annotated[int, typer.Option(help="Random seed for the simulated students.")] = 7,
         notify: Annotated[list[str] | None, typer.Option(
             help="Send a team's alerts to an Apprise URL, as TEAM=URL (e.g. counselling=json://127.0.0.1:9000/); "
                  "repeatable. The demo's gateway sends them at once.", metavar="TEAM=URL")] = None,
         start: Annotated[str | None, typer.Option(help='Simulated start time, e.g. "Mon 09:00" or "21:30" (this '
                                                       "machine's time zone; default: now), so an evening demo "
                                                       "is not an empty building.")] = None,
         history_weeks: Annotated[int, typer.Option(help="Weeks of simulated history central starts with (for "
                                                         "the forecast; 0: none).", min=0, max=12)] = 4,
         ) -> None:
    """The whole system on this machine: broker, central, gateway, simulated kiosks and a health station."""
    from harness.demo import notify_targets, run_demo
    from harness.history import StartTimeError, local_now, parse_start

    try:
        targets = notify_targets(notify or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--notify") from None
    try:
        start_at = parse_start(start, local_now()) if start else None
    except StartTimeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--start") from exc
    with reported():
        run_demo(duration=duration, data_dir=data_dir, speed=speed, exam_week=exam_week, ui=ui, seed=seed,
                 notify=targets, start=start_at, history_weeks=history_weeks)
