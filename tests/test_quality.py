"""House style, enforced: ruff over the whole tree, mypy over the pure cores (HOUSE_STYLE.md), and the layers
(import-linter contracts in pyproject.toml, drawn in docs/architecture.md)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE_CORES = ["onestop/topics.py", "onestop/ids.py", "onestop/events.py", "onestop/clinical.py", "onestop/site.py",
              "onestop/records.py", "onestop/alert_history.py", "onestop/notifications.py",
              "harness/building_day.py", "gateway/ingest.py", "gateway/authority.py",
              "gateway/occupancy.py", "gateway/sync_plan.py",
              "gateway/devices.py", "gateway/alerts.py", "kiosk/controller.py", "kiosk/health.py",
              "onestop/work_orders.py", "gateway/work_orders.py",
              "firmware_bridge/protocols"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    result = run("ruff", "check", ".", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes_on_the_pure_cores():
    result = run("mypy", *PURE_CORES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_packages_keep_their_layers():
    """The contract imports no component; components import each other only as pyproject declares."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
PRODUCT = ("onestop", "gateway", "central", "kiosk", "provisioning", "firmware_bridge")
LOINC_LITERAL = re.compile(r"\d{1,5}-\d")


def test_loinc_codes_are_written_only_in_the_clinical_module():
    """Each code is stated once (onestop/clinical.py); everywhere else names it, so a typo cannot diverge."""
    stated_elsewhere = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "onestop" / "clinical.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and LOINC_LITERAL.fullmatch(node.value):
                    stated_elsewhere.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert stated_elsewhere == []
