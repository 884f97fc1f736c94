"""A real Kivy window (SDL's offscreen driver on Mesa, no display needed) driven through whole scenarios.

Each scenario runs in its own process (``tests/kiosk/ui_scenario.py``) so a Kivy app can start and stop
cleanly; the kiosk's configuration (built by the gateway's own code from the demo building, ``harness.demo``)
and occupancy arrive as retained messages from a real Mosquitto, as the gateway would publish them.

Every screenshot is taken with the texts it must show on screen, after an audit of the widget tree: each
visible text against its background (WCAG AA) and each button's size (≥ 9 mm on the 7" screen). They land in
the test's temporary directory and must not be blank; ``ONESTOP_SCREENSHOTS=docs/screenshots`` keeps small
copies (the README's and docs/kiosk.md's pictures come from there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import tomli_w
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps, ImageStat

from harness.localsite import LocalSite
from harness.netutil import free_port
from onestop import topics
from tests.kiosk.ui_scenario import GLYPHS, demo_cfg

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
NOTO_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def publish_retained(site: LocalSite, messages: list[tuple[str, dict]]) -> None:
    """Publish as the gateway does: retained, QoS 1, with the gateway's credentials."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-gateway-cfg", protocol=mqtt.MQTTv5)
    client.username_pw_set(site.gateway_user.username, site.gateway_user.password)
    client.connect("127.0.0.1", site.broker_port)
    client.loop_start()
    try:
        for topic, body in messages:
            client.publish(topic, json.dumps(body), qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def station_config(site: LocalSite, device: str, **extra: object) -> Path:
    path = site.path(f"kiosk-{device}.toml")
    config = {**tomllib.loads(path.read_text()), **extra}
    path.write_text(tomli_w.dumps(config))
    return path


def run_scenario(config: Path, scenario: str, size: str, out: Path) -> dict:
    env = {**os.environ, "SDL_VIDEODRIVER": os.environ.get("SDL_VIDEODRIVER", "offscreen"), "KIVY_NO_ARGS": "1",
           "KIVY_HOME": str(out / "kivy-home"), "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1"}
    done = subprocess.run([sys.executable, "-m", "tests.kiosk.ui_scenario", "--config", str(config),
                           "--scenario", scenario, "--size", size, "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    report_path = out / f"{size}-{scenario}-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    assert done.returncode == 0 and report.get("ok"), (report.get("error") or done.stderr[-3000:])
    return report


def assert_not_blank(path: Path, size: str) -> None:
    image = Image.open(path).convert("RGB")
    assert f"{image.width}x{image.height}" == size
    stddev = ImageStat.Stat(image).stddev
    assert max(stddev) > 10, f"{path.name} looks blank"
    assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20, f"{path.name} has almost no detail"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return tmp_path / "screens"


# What docs/screenshots keeps (every screen at 800×480, in both languages where the docs show both, and the
# main screens at 1080p), kept small: the tests take and check every screen at both sizes in both languages.
DOCS = {f"800x480-{n}.png" for n in (
    "idle-en", "idle-zh", "feedback-welcome", "feedback-goodbye-zh", "feedback-full", "health-idle",
    "health-idle-zh", "health-consent", "health-consent-zh", "health-hub", "health-hub-zh", "health-keypad",
    "question-phq9", "question-gad7-zh",
    "results-en-1", "results-zh-1", "results-en-2", "health-timeout-warning", "health-timeout-warning-zh")} | {
    f"1920x1080-{n}.png" for n in ("idle-en", "idle-zh", "health-hub", "results-en-1", "results-zh-1",
                                   "health-timeout-warning-zh")}


def keep(screens: Path, names: list[str]) -> None:
    """Small copies for the docs, when ``ONESTOP_SCREENSHOTS`` names a directory: 1080p halved, 32 colours."""
    target = os.environ.get("ONESTOP_SCREENSHOTS")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    for name in sorted(DOCS & set(names)):
        with Image.open(screens / name) as image:
            picture = image.convert("RGB")
            if picture.width > 1000:
                picture = picture.resize((picture.width // 2, picture.height // 2), Image.Resampling.LANCZOS)
            picture.quantize(32, method=Image.Quantize.MEDIANCUT).save(Path(target) / name, optimize=True)


def assert_shots(report: dict, screens: Path, size: str) -> list[str]:
    """Every screenshot was taken showing what it should, passed the audit, and is not blank."""
    shots = [step for step in report["steps"] if "screenshot" in step]
    for step in shots:
        assert step["expected"] and step["texts_checked"] > 0, step
        assert_not_blank(screens / step["screenshot"], size)
    names = [step["screenshot"] for step in shots]
    keep(screens, names)
    return names


@pytest.mark.parametrize("size", ["800x480", "1920x1080"])
def test_a_tap_through_the_kiosk_window(broker, screenshots, size):
    site = broker
    device = "kiosk-test-a"
    publish_retained(site, [
        (topics.cfg(site.site, device), demo_cfg(device, "kiosk", "study-24h-2f")),
        (topics.occupancy(site.site, "study-24h-2f"), {"space": "study-24h-2f", "count": 41, "capacity": 60,
                                                       "ts": "2026-11-23T09:00:00.000Z"}),
    ])
    config = station_config(site, device, screen={"feedback_s": 1.5})
    report = run_scenario(config, "kiosk", size, screenshots)
    shots = assert_shots(report, screenshots, size)
    assert shots == [f"{size}-{name}.png" for name in ("idle-en", "feedback-welcome", "idle-zh",
                                                       "feedback-goodbye-zh", "feedback-full")]


def test_a_request_in_three_taps_with_a_card_or_anonymous_and_only_the_own_requests_shown(site, screenshots):
    # Offline (no broker): a request is recorded in the outbox like every tap; the cfg is applied as it arrives.
    size = "800x480"
    broker = {**site.broker_section(site.device_users["kiosk-test-a"]), "port": free_port()}
    config = station_config(site, "kiosk-test-a", broker=broker, screen={"feedback_s": 1.5})
    report = run_scenario(config, "requests", size, screenshots)
    shots = assert_shots(report, screenshots, size)
    assert shots == [f"{size}-{name}.png" for name in ("request-categories", "request-card", "request-sent",
                                                       "request-categories-zh", "request-card-zh", "my-requests")]


def test_the_feedback_question_after_a_checkout_in_both_languages_records_an_anonymous_rating(site, screenshots):
    size = "800x480"
    broker = {**site.broker_section(site.device_users["kiosk-test-a"]), "port": free_port()}
    config = station_config(site, "kiosk-test-a", broker=broker, feedback_every=1, screen={"feedback_s": 1.5})
    report = run_scenario(config, "feedback", size, screenshots)
    shots = assert_shots(report, screenshots, size)
    assert shots == [f"{size}-{name}.png" for name in ("feedback-question", "feedback-question-zh")]


@pytest.mark.parametrize("size", ["800x480", "1920x1080"])
def test_a_whole_screening_through_the_health_station_window(site, screenshots, size):
    # No broker: a health station works offline, and its records wait in the outbox where the scenario
    # checks them (complete when the results show, incomplete when the student walks away).
    broker = {**site.broker_section(site.device_users["kiosk-test-c"]), "port": free_port()}
    config = station_config(site, "kiosk-test-c", mode="health-station", space="health-corner", broker=broker,
                            health={"idle_timeout_s": 120, "results_timeout_s": 60})
    report = run_scenario(config, "health", size, screenshots)
    shots = assert_shots(report, screenshots, size)
    for screen in ("health-idle", "health-consent", "health-keypad", "health-hub", "health-timeout-warning"):
        assert {f"{size}-{screen}.png", f"{size}-{screen}-zh.png"} <= set(shots), screen
    assert {f"{size}-question-phq9.png", f"{size}-question-gad7-zh.png", f"{size}-results-en-1.png",
            f"{size}-results-zh-1.png"} <= set(shots)
    # Every result was, on some page, drawn whole: in the window and not cut by anything holding it.
    results = next(step for step in report["steps"] if "results" in step)
    assert len(results["results"]) >= 7  # blood pressure, pulse, oxygen, temperature, weight, BMI, PHQ-9, GAD-7
    assert results["seen_whole_en"] == results["seen_whole_zh"] == results["results"]
    assert any(step.get("page") == 2 for step in report["steps"]), "all results on one page: paging untested"
    warning = next(step["timeout_warning"] for step in report["steps"] if "timeout_warning" in step)
    assert warning["font"] >= 30 and abs(warning["centre_y"] - 0.5) < 0.05  # large and centred


def _glyph_bitmap(image: Image.Image) -> Image.Image:
    """The ink of a white-on-transparent (or black-on-white) glyph, cropped to its box, at 64×64 grey."""
    grey = image.getchannel("A") if image.mode == "RGBA" else ImageOps.invert(image.convert("L"))
    box = grey.point(lambda v: 255 if v > 64 else 0).getbbox()
    assert box, "no ink drawn"
    return grey.crop(box).resize((64, 64), Image.Resampling.BILINEAR)


def _distance(a: Image.Image, b: Image.Image) -> float:
    return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]


def _face(family: str) -> ImageFont.FreeTypeFont:
    """A face of the Noto CJK collection chosen by its family name (FreeType's own reading, not ours)."""
    for index in range(16):
        font = ImageFont.truetype(NOTO_CJK, 96, index=index)
        if font.getname()[0] == family:
            return font
    raise AssertionError(f"no {family} face in {NOTO_CJK}")


def _reference(font: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    canvas = Image.new("L", (160, 160), 255)
    ImageDraw.Draw(canvas).text((20, 10), char, font=font, fill=0)
    return _glyph_bitmap(canvas)


@pytest.mark.skipif(not Path(NOTO_CJK).is_file(), reason="fonts-noto-cjk is not installed")
def test_chinese_is_drawn_with_the_simplified_chinese_glyph_forms(broker, tmp_path, monkeypatch):
    # The window draws 所 直 角 骨 with the font its labels use; Pillow draws them from the collection's SC
    # and JP faces (found by family name through FreeType). The window's glyphs must match SC, not JP.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the SC face is extracted afresh
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    config = station_config(broker, "kiosk-test-a")
    report = run_scenario(config, "glyphs", "800x480", tmp_path)
    assert [s["glyph"] for s in report["steps"]] == list(GLYPHS)
    sc, jp = _face("Noto Sans CJK SC"), _face("Noto Sans CJK JP")
    for char in GLYPHS:
        drawn = _glyph_bitmap(Image.open(tmp_path / f"800x480-glyph-U+{ord(char):04X}.png").convert("RGBA"))
        to_sc, to_jp = _distance(drawn, _reference(sc, char)), _distance(drawn, _reference(jp, char))
        assert _distance(_reference(sc, char), _reference(jp, char)) > 4, f"{char}: SC and JP forms should differ"
        assert to_sc < to_jp / 2, f"{char} drawn closer to the JP form ({to_jp:.1f}) than to SC ({to_sc:.1f})"
    cached = list((tmp_path / "cache" / "onestop").glob("*.otf"))
    assert len(cached) >= 1 and all(p.stat().st_mode & 0o777 == 0o644 for p in cached)
