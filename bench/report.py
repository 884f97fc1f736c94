"""Run every benchmark and write their figures into the README (between the bench markers).

Usage: python -m bench.report [--skip NAME ...]   (``scripts/bench`` runs it)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import machine

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

BENCHMARKS = [
    ("ingest", "Gateway ingest vs. raw broker (events/s, batch trade-off, RSS)", ["-m", "bench.ingest.run"]),
    ("sync", "Sync drain of a 1,000,000-event backlog", ["-m", "bench.sync.run"]),
    ("alert_latency", "Urgent screening → alert/{team}", ["-m", "bench.alert_latency.run"]),
    ("tap_latency", "Card bytes at the serial port → kiosk feedback", ["bench/tap_latency/run.py"]),
    ("central_ingest", "Central ingest, 10 gateways at once, SQLite and PostgreSQL",
     ["bench/central_ingest/run.py"]),
]


def run(args: list[str]) -> tuple[str, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"})
    output = (proc.stdout + ("" if proc.returncode == 0 else f"\n(exit {proc.returncode})\n{proc.stderr[-2000:]}"))
    return output.strip(), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], help="benchmark names to leave out")
    options = parser.parse_args()
    sections = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()} (`scripts/bench`).", ""]
    for name, title, args in BENCHMARKS:
        script = ROOT / (args[1].replace(".", "/") + ".py" if args[0] == "-m" else args[0])
        if name in options.skip or not script.exists():
            continue
        print(f"running {name} …", flush=True)
        output, seconds = run(args)
        print(output, flush=True)
        lines = [line for line in output.splitlines() if not line.startswith("machine:")]
        sections += [f"**{title}** ({seconds:.0f} s)", "", "```", *lines, "```", ""]
    text = README.read_text(encoding="utf-8")
    block = "\n".join([START, *sections, END])
    if START in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text += "\n## Benchmarks\n\n" + block + "\n"
    README.write_text(text, encoding="utf-8")
    print(f"wrote the figures into {README}")


if __name__ == "__main__":
    main()
