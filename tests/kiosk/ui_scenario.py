"""Drive a real kiosk window through a scenario, in its own process (Kivy wants a process to itself).

    python -m tests.kiosk.ui_scenario --config kiosk.toml --scenario kiosk --size 800x480 --out DIR

Simulated devices on pseudo-terminals feed the runtime exactly as hardware would; the script presses the
window's buttons, waits for what the screen shows, saves screenshots to DIR and writes ``DIR/report.json``
(the steps passed, the texts seen). Exit status 0 when every step passed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from firmware_bridge.simulators import SimulatedDevice
from kiosk.runtime import KioskRuntime
from kiosk.settings import DeviceSettings, KioskSettings, ReaderSettings, load
from tests.kiosk.ui_audit import audit, timeout_warning_geometry, whole_rows

CARD, OTHER = "62E3086CED", "0A1B2C3D4E"


class Driver:
    """Runs on its own thread; touches the app only through ``on_main``."""

    def __init__(self, app: Any, runtime: KioskRuntime, devices: dict[str, SimulatedDevice], out: Path,
                 prefix: str) -> None:
        self.app, self.runtime, self.devices, self.out, self.prefix = app, runtime, devices, out, prefix
        self.steps: list[dict[str, Any]] = []

    def on_main(self, fn: Callable[[], Any], timeout: float = 10) -> Any:
        from kivy.clock import Clock

        done, box = threading.Event(), {}

        def call(_dt: float) -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed back to the driver thread
                box["error"] = exc
            done.set()

        Clock.schedule_once(call, 0)
        if not done.wait(timeout):
            raise TimeoutError("the Kivy thread did not answer")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def texts(self) -> list[str]:
        return self.on_main(self.app.visible_texts)

    def see(self, *wanted: str, gone: tuple[str, ...] = (), timeout: float = 10) -> list[str]:
        """Wait until every ``wanted`` text is on screen (substring match) and no ``gone`` text is."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.texts()
            joined = "\n".join(shown)
            if all(w in joined for w in wanted) and not any(g in joined for g in gone):
                self.steps.append({"saw": list(wanted), "screen": self.on_main(lambda: self.app.manager.current)})
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {wanted} (and not {gone}) on screen; it shows {shown}")
            time.sleep(0.05)

    def press(self, text: str) -> None:
        time.sleep(0.05)  # let the frame that drew the button finish
        if not self.on_main(lambda: self.app.press(text)):
            raise AssertionError(f"no enabled button {text!r} on screen; it shows {self.texts()}")

    def shot(self, name: str, *expected: str) -> None:
        """Capture the screen, which must show every ``expected`` text and pass the contrast and size audit."""
        assert expected, "say what the screenshot must show"
        path = self.out / f"{self.prefix}{name}.png"
        # Labels get their textures a frame or two after they change; on a loaded machine that can take a
        # while, so capture again until the picture has the detail a drawn screen has (at most ~3 s).
        for _ in range(15):
            time.sleep(0.2)
            shown = self.on_main(lambda: (self.app.screenshot(path), self.app.visible_texts())[1])
            with Image.open(path) as image:
                if len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20:
                    break
        missing = [text for text in expected if not any(text in s for s in shown)]
        assert not missing, f"{name}: {missing} not on screen when captured; it shows {shown}"
        checked = self.on_main(lambda: audit(self.app))
        self.steps.append({"screenshot": path.name, "expected": list(expected), "texts": shown, **checked})

    def in_both_languages(self, name: str, english: tuple[str, ...], chinese: tuple[str, ...]) -> None:
        """Capture the screen in English (``name``) and in Chinese (``name-zh``), and go back to English."""
        self.shot(name, *english)
        self.press("中文")
        self.see(*chinese)
        self.shot(f"{name}-zh", *chinese)
        self.press("English")
        self.see(*english)

    def results_seen_whole(self, name: str, *expected: str) -> set[str]:
        """Page through the results with "More", capturing each page; the results some page showed entirely
        (inside the window and inside every widget holding them, so not cut by a scroll view)."""
        seen: set[str] = set()
        for page in range(9):
            deadline = time.monotonic() + 10
            while self.on_main(lambda: self.app.manager.get_screen("results").page) != page:
                assert time.monotonic() < deadline, f"results page {page + 1} did not show"
                time.sleep(0.05)
            self.shot(f"{name}-{page + 1}", *expected)  # waits for the frame, so the page is laid out
            whole = self.on_main(lambda: whole_rows(self.app))
            self.steps.append({"page": page + 1, "whole": sorted(whole)})
            seen |= whole
            if not self.on_main(lambda: self.app.press(self.app.tr("more_results"))):
                return seen
        raise AssertionError("more than nine pages of results")


def demo_cfg(device: str, kind: str, space: str) -> dict[str, Any]:
    """The retained ``cfg`` the demo building's gateway (``harness.demo.SPACES``) publishes for ``device``."""
    import tempfile

    from gateway.building import Building
    from gateway.settings import GatewaySettings
    from gateway.store import Store
    from harness.demo import SPACES

    with tempfile.TemporaryDirectory() as tmp:
        settings = GatewaySettings(site="demo", data_dir=tmp, spaces=SPACES,
                                   devices=[{"device": device, "kind": kind, "space": space}])
        store = Store(Path(tmp) / "gateway.db")
        try:
            return json.loads(Building(settings, store, lambda _m: None).config_message(device).payload)
        finally:
            store.close()


def kiosk_scenario(d: Driver) -> None:
    reader = d.devices["reader"]
    idle_en = ("24-hour study room", "Busy · 41 of 60 places taken", "Tap your card", "Open 24 hours today")
    d.see(*idle_en)
    d.shot("idle-en", *idle_en)
    reader.tap(CARD)
    d.see("Welcome!", "You are checked in.")
    d.shot("feedback-welcome", "Welcome!", "You are checked in.")
    d.see("Tap your card", gone=("Welcome!",))
    d.press("中文")
    idle_zh = ("请刷卡", "24小时自习室", "较忙 · 已使用 42 / 60 个位置", "今日 24 小时开放")
    d.see(*idle_zh)
    d.shot("idle-zh", *idle_zh)
    reader.tap(CARD)
    d.see("再见！", "您已签退。")
    d.shot("feedback-goodbye-zh", "再见！", "您已签退。")
    d.see("Tap your card", gone=("再见！",))  # back to the default language for the next student
    d.runtime._occupancy({"space": "study-24h-2f", "count": 20, "capacity": 60, "ts": "2026-11-23T09:00:00Z"})
    d.see("Quiet · 20 of 60 places taken")
    d.runtime._occupancy({"space": "study-24h-2f", "count": 55, "capacity": 60, "ts": "2026-11-23T09:00:00Z"})
    d.see("Nearly full · 55 of 60 places taken")
    d.runtime._occupancy({"space": "study-24h-2f", "count": 60, "capacity": 60, "ts": "2026-11-23T09:00:00Z"})
    d.see("Full · 60 of 60 places taken")
    time.sleep(1.1)  # past the reader's repeat window
    reader.tap(OTHER)
    d.see("Sorry, the space is full", "Please try again later.")
    d.shot("feedback-full", "Sorry, the space is full", "Please try again later.")


def health_scenario(d: Driver) -> None:
    dev = d.devices
    # What the demo building's gateway would tell this station (it runs offline here: applied as it arrives).
    d.runtime._config(demo_cfg(d.runtime.settings.device, "health-station", "health-corner"))
    d.see("Health corner", "Tap your card to start a health check")
    d.in_both_languages("health-idle", ("Health corner", "Tap your card to start a health check"),
                        ("健康角", "请刷卡开始健康检查"))
    # Consent comes first: declining records nothing and the station resets for the next student.
    dev["reader"].tap(OTHER)
    consent_en = ("Before we start", "What: blood pressure", "Who sees it: only the campus clinic",
                  "How long: this station deletes its copy", "If you decline, nothing is recorded.", "No, thanks")
    d.see(*consent_en)
    dev["bp"].measure(systolic=150, diastolic=95, pulse=90)  # not taken: no consent yet
    d.press("No, thanks")
    d.see("Tap your card to start a health check", gone=("Before we start",))
    assert not [p for p in d.runtime.outbox.pending() if p.type == "screening"], "a declined consent recorded"
    time.sleep(1.1)  # past the reader's repeat window
    dev["reader"].tap(CARD)
    d.see(*consent_en)
    d.in_both_languages("health-consent", consent_en,
                        ("开始之前", "测量内容：血压", "谁能看到：只有校医院", "保存多久：本设备发送后即删除",
                         "如拒绝，将不作任何记录。", "我同意，开始", "不同意"))
    d.press("I agree — start")
    d.see("Health check", "Blood pressure", "waiting…")
    dev["bp"].measure(systolic=128, diastolic=82, pulse=72)
    dev["oximeter"].measure(spo2=97, pulse=72)
    dev["thermometer"].measure(temperature=36.8)
    dev["scale"].measure(weight=75.5)
    d.see("128/82", "97 %", "36.8 °C", "75.5 kg")
    d.press("Enter height")
    for key in ("1", "7", "8"):
        d.press(key)
    d.see("178 cm")
    d.in_both_languages("health-keypad", ("178 cm", "Enter height", "Clear"), ("178 cm", "输入身高", "清除"))
    d.press("OK")
    d.see("178 cm", "23.8", "See my results")
    d.in_both_languages("health-hub", ("Blood pressure", "128/82", "97 %", "36.8 °C", "75.5 kg", "23.8"),
                        ("血压", "128/82", "体温", "查看结果"))
    d.press("Mood questions (PHQ-9)")
    d.see("Question 1 of 9", "Little interest or pleasure in doing things", "Not at all", "Nearly every day")
    d.shot("question-phq9", "Question 1 of 9", "Little interest or pleasure in doing things", "Nearly every day")
    for answer in ["Several days"] * 4 + ["More than half the days"] * 4 + ["Not at all"]:
        d.press(answer)
    d.see("Mood questions (PHQ-9) — done")
    d.press("中文")
    d.press("焦虑问卷（GAD-7）")
    d.see("第 1 题，共 7 题", "感觉紧张、焦虑或急切", "好几天")
    d.shot("question-gad7-zh", "第 1 题，共 7 题", "感觉紧张、焦虑或急切", "好几天")
    for _ in range(7):
        d.press("好几天")
    d.press("查看结果")
    d.see("您的结果", "128/82 mmHg", "偏高（1级）", "这是筛查结果，不是诊断。")
    expected = {r.measure for r in d.on_main(d.runtime.session.results)}
    seen_zh = d.results_seen_whole("results-zh", "您的结果", "这是筛查结果，不是诊断。")
    pending = [json.loads(p.payload) for p in d.runtime.outbox.pending()]
    screening = [e for e in pending if e["type"] == "screening"]
    assert len(screening) == 1 and screening[0]["data"]["complete"], screening
    assert screening[0]["data"]["consent"]["version"] == "health-consent-1", screening
    assert {q["instrument"]: q["score"] for q in screening[0]["data"]["questionnaires"]} == {"PHQ-9": 12,
                                                                                            "GAD-7": 7}
    d.press("English")
    while d.on_main(lambda: d.app.manager.get_screen("results").page) > 0:
        d.press("◀ Back")
    d.see("Your results", "High (stage 1)", "This is a screening, not a diagnosis.")
    seen_en = d.results_seen_whole("results-en", "Your results", "This is a screening, not a diagnosis.")
    assert seen_zh == seen_en == expected, (sorted(expected), sorted(seen_zh), sorted(seen_en))
    d.steps.append({"results": sorted(expected), "seen_whole_zh": sorted(seen_zh), "seen_whole_en": sorted(seen_en)})
    d.press("Finish")
    d.see("Tap your card to start a health check", gone=("Your results",))
    # Walk away mid-session: the countdown warns, then the screen clears and the record is incomplete.
    d.runtime.session.idle_timeout_s = 10
    dev["reader"].tap(OTHER)
    d.see("Before we start")
    d.press("I agree — start")
    d.see("Health check")
    dev["oximeter"].measure(spo2=91, pulse=110)
    d.see("91 %", "Still there? This screen clears in")
    warning = d.on_main(lambda: timeout_warning_geometry(d.app))
    d.steps.append({"timeout_warning": warning})
    assert abs(warning["centre_x"] - 0.5) < 0.05 and abs(warning["centre_y"] - 0.5) < 0.05, warning
    assert warning["width"] >= 0.8 and warning["font"] >= 30, warning
    d.shot("health-timeout-warning", "Still there? This screen clears in", "Touch to continue")
    d.press("中文")
    d.see("还在吗？屏幕将在", "触摸以继续")
    d.shot("health-timeout-warning-zh", "还在吗？屏幕将在", "触摸以继续")
    d.see("Tap your card to start a health check", timeout=20)
    pending = [json.loads(p.payload) for p in d.runtime.outbox.pending() if p.type == "screening"]
    assert [e["data"]["complete"] for e in pending] == [True, False], pending


def requests_scenario(d: Driver) -> None:
    """Work orders: three taps (button, category, card or anonymous), in both languages; "My requests"."""
    from onestop.work_orders import requester_tag

    reader, key = d.devices["reader"], "ab" * 32
    mine, theirs = requester_tag(bytes.fromhex(key), CARD), requester_tag(bytes.fromhex(key), OTHER)
    statuses = [{"tag": mine, "category": "climate", "state": "acknowledged", "opened": "2026-11-23T08:00:00Z",
                 "updated": "2026-11-23T08:30:00Z"},
                {"tag": theirs, "category": "noise", "state": "open", "opened": "2026-11-23T08:10:00Z",
                 "updated": "2026-11-23T08:10:00Z"}]
    d.runtime._config({**demo_cfg(d.runtime.settings.device, "kiosk", "study-24h-2f"), "request_key": key,
                       "requests": statuses})
    d.see("Tap your card", "Report a problem / request a service", "My requests")
    d.press("Report a problem / request a service")
    categories = ("What is it about?", "Seat or desk broken", "Too hot / cold / stuffy", "Counselling appointment",
                  "Other")
    d.see(*categories)
    d.shot("request-categories", *categories)
    d.press("Too hot / cold / stuffy")
    d.see("Tap your card to get a reply", "Send anonymously")
    d.shot("request-card", "Tap your card to get a reply", "Send anonymously")
    reader.tap(CARD)
    d.see("Thank you — request sent", "My requests")
    d.shot("request-sent", "Thank you — request sent")
    d.see("Tap your card", gone=("Thank you",))
    d.press("Report a problem / request a service")
    d.press("中文")
    d.see("请选择类别", "太热/太冷/闷", "清洁卫生")
    d.shot("request-categories-zh", "请选择类别", "清洁卫生")
    d.press("清洁卫生")
    d.see("刷卡以便获得回复", "匿名提交")
    d.shot("request-card-zh", "刷卡以便获得回复", "匿名提交")
    d.press("匿名提交")
    d.see("谢谢，已提交")
    d.see("Tap your card", gone=("谢谢",))
    requests = [json.loads(p.payload)["data"] for p in d.runtime.outbox.pending() if p.type == "request"]
    assert requests == [{"category": "climate", "space": "study-24h-2f", "card": CARD, "note": None},
                        {"category": "cleanliness", "space": "study-24h-2f", "card": None, "note": None}], requests
    # Cancel leaves nothing behind: the next tap checks in as usual.
    d.press("Report a problem / request a service")
    d.press("Noise")
    d.press("Cancel")
    d.see("Tap your card", gone=("Send anonymously",))
    time.sleep(1.1)  # past the reader's repeat window
    reader.tap(CARD)
    d.see("Welcome!")
    assert len([p for p in d.runtime.outbox.pending() if p.type == "request"]) == 2
    d.see("Tap your card", gone=("Welcome!",))
    # My requests: this card's, not the other card's.
    d.press("My requests")
    d.see("Tap your card to see your requests")
    time.sleep(1.1)
    reader.tap(CARD)
    d.see("Too hot / cold / stuffy", "Seen by staff", gone=("Noise", "Received"))
    d.shot("my-requests", "Too hot / cold / stuffy", "Seen by staff")
    d.press("OK")
    d.see("Tap your card", gone=("Seen by staff",))


def feedback_scenario(d: Driver) -> None:
    """The feedback question after a checkout (feedback_every = 1): goodbye, five ratings and Skip; anonymous."""
    reader = d.devices["reader"]
    d.runtime._config(demo_cfg(d.runtime.settings.device, "kiosk", "study-24h-2f"))
    d.see("Tap your card")
    reader.tap(CARD)
    d.see("Welcome!")
    time.sleep(1.1)  # past the reader's repeat window
    reader.tap(CARD)
    d.see("Goodbye!", "How do you rate this space today?", "1 Poor", "5 Very good", "Skip")
    d.shot("feedback-question", "How do you rate this space today?", "5 Very good", "Skip")
    d.press("中文")
    d.see("您对今天的这个空间评价如何？", "跳过")
    d.shot("feedback-question-zh", "您对今天的这个空间评价如何？", "5 很好", "跳过")
    d.press("4")
    d.see("谢谢！")
    d.see("Tap your card", gone=("谢谢！",))
    ratings = [json.loads(p.payload)["data"] for p in d.runtime.outbox.pending() if p.type == "feedback"]
    assert ratings == [{"space": "study-24h-2f", "question": "space-rating", "rating": 4}], ratings


GLYPHS = "所直角骨"  # their Japanese and simplified-Chinese forms differ


def glyphs_scenario(d: Driver) -> None:
    """Draw each glyph with the font the screen's labels use, as Kivy draws it, into ``glyph-U+XXXX.png``."""
    from kivy.core.text import Label as CoreLabel

    def draw() -> None:
        font = d.app.style.text_args(96)["font_name"]
        for char in GLYPHS:
            core = CoreLabel(text=char, font_size=96, font_name=font, color=(1, 1, 1, 1))
            core.refresh()
            texture = core.texture
            image = Image.frombytes("RGBA", texture.size, texture.pixels)  # top row first, as drawn
            image.save(d.out / f"{d.prefix}glyph-U+{ord(char):04X}.png")
            d.steps.append({"glyph": char, "font": font})

    d.on_main(draw)


SCENARIOS = {"kiosk": kiosk_scenario, "health": health_scenario, "glyphs": glyphs_scenario,
             "requests": requests_scenario, "feedback": feedback_scenario}


def simulated_devices(settings: KioskSettings, scenario: str) -> tuple[KioskSettings, dict[str, SimulatedDevice]]:
    """The scenario's devices on pseudo-terminals, and the settings pointing at them."""
    devices = {"reader": SimulatedDevice("em4100", seed=1)}
    update: dict[str, Any] = {"reader": ReaderSettings(driver="em4100", port=devices["reader"].path)}
    if scenario == "health":
        for name, driver in (("bp", "gatt-bp"), ("oximeter", "cms50d"), ("thermometer", "gatt-temp"),
                             ("scale", "and-scale")):
            devices[name] = SimulatedDevice(driver, seed=2)
        ports = [DeviceSettings(driver=devices[n].driver.name, port=devices[n].path)
                 for n in ("bp", "oximeter", "thermometer", "scale")]
        update["health"] = settings.health.model_copy(update={"devices": ports})
    return settings.model_copy(update=update), devices


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--size", default="800x480")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    settings, devices = simulated_devices(load(args.config), args.scenario)
    runtime = KioskRuntime(settings)
    report: dict[str, Any] = {"scenario": args.scenario, "size": args.size, "ok": False}
    prefix = f"{width}x{height}-"

    def ready(app: Any) -> None:
        driver = Driver(app, runtime, devices, args.out, prefix)
        report["steps"] = driver.steps

        def script() -> None:
            try:
                for reader in runtime.devices.readers:  # type: ignore[union-attr]
                    assert reader.wait_connected(5), reader.name
                SCENARIOS[args.scenario](driver)
                report["ok"] = True
            except BaseException:
                report["error"] = traceback.format_exc()
            finally:
                driver.on_main(app.stop)

        threading.Thread(target=script, name="scenario", daemon=True).start()

    from kiosk.ui.window import run_window

    runtime.start()
    try:
        run_window(runtime, size=(width, height), on_ready=ready)
    finally:
        runtime.stop()
        for device in devices.values():
            device.close()
    (args.out / f"{prefix}{args.scenario}-report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    if not report["ok"]:
        print(report.get("error", "scenario did not finish"), file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
