"""A kiosk installed as docs/kiosk.md says gets what its screen needs: the CJK font, SDL/GL, input libraries.

``scripts/setup kiosk --dry-run`` prints the list the same script installs from (one ``want`` per package
group), so what is checked here is what a technician's ``sudo scripts/setup kiosk`` installs.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREEN = {"fonts-noto-cjk",                                                  # Chinese at all
          "libsdl2-2.0-0", "libsdl2-ttf-2.0-0", "libgl1", "libgl1-mesa-dri", "libegl1", "libgles2",  # drawing
          "libgbm1", "libdrm2",                                              # KMS/DRM without a desktop
          "libmtdev1", "libudev1", "libinput10"}                             # touch screen and readers


def planned(*args: str) -> tuple[set[str], str]:
    done = subprocess.run(["bash", str(ROOT / "scripts/setup"), *args, "--dry-run"], capture_output=True,
                          text=True, timeout=30, check=True)
    apt = re.search(r"^apt: (.*)$", done.stdout, re.M)
    pip = re.search(r"^pip: (.*)$", done.stdout, re.M)
    assert apt and pip, done.stdout
    return set(apt.group(1).split()), pip.group(1)


def test_the_kiosk_set_up_installs_the_font_the_graphics_and_the_input_libraries():
    apt, pip = planned("kiosk")
    assert apt >= SCREEN, f"missing: {sorted(SCREEN - apt)}"
    assert {"python3", "python3-venv"} <= apt
    assert not {"mosquitto", "postgresql", "chromium"} & apt  # a kiosk runs no broker, database or browser
    assert pip == ".[kiosk]"


def test_the_kiosk_extra_brings_kivy_and_the_font_tools():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {re.split(r"[<>=\[]", d)[0].lower() for d in extras["kiosk"]} >= {"kivy", "fonttools"}


def test_a_gateway_host_gets_no_screen_libraries():
    apt, _ = planned()
    assert "mosquitto" in apt and not SCREEN & apt


def test_the_kiosk_guide_says_to_run_the_kiosk_set_up():
    guide = (ROOT / "docs/kiosk.md").read_text()
    assert "sudo scripts/setup kiosk" in guide
    assert not re.search(r"sudo scripts/setup(?! kiosk)", guide), "docs/kiosk.md still installs without 'kiosk'"
