"""The feedback question after a checkout (docs/work-orders.md, "Feedback"): the pure rules, and the runtime
that asks a card at most once a week (kept as a keyed tag across restarts) and records an anonymous answer."""

from __future__ import annotations

import json
import sqlite3
import time
import tomllib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import tomli_w

from kiosk.controller import FEEDBACK_QUESTION, FeedbackAsk, feedback_decision, feedback_due
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop.events import FeedbackData, new_event
from tests.helpers import gateway_events, wait_until
from tests.kiosk.test_runtime import settings

A, B = "922E5832", "62E3086CED"
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def test_asked_every_nth_checkout_never_when_disabled_and_a_card_at_most_once_a_week():
    assert [feedback_due(3, n, None, NOW) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert not any(feedback_due(0, n, None, NOW) for n in (0, 1, 5, 1000))  # 0 disables
    assert feedback_due(1, 1, NOW - timedelta(days=8), NOW)
    assert not feedback_due(1, 1, NOW - timedelta(days=6, hours=23), NOW)  # asked within the week
    assert not feedback_due(1, 1, NOW, NOW)


def test_the_answer_names_the_space_the_question_and_the_rating_and_nothing_else():
    decision = feedback_decision(FeedbackAsk("study-24h-2f", FEEDBACK_QUESTION, 0.0), 4)
    assert decision.event_type == "feedback" and decision.positive
    assert decision.data == {"space": "study-24h-2f", "question": "space-rating", "rating": 4}
    new_event("kiosk-unit-1", 1, "feedback", decision.data)  # the contract accepts it
    with pytest.raises(ValueError):
        feedback_decision(FeedbackAsk("study-24h-2f", FEEDBACK_QUESTION, 0.0), 6)
    with pytest.raises(ValueError):  # the contract refuses a card in it, and ratings out of range
        FeedbackData.model_validate({**decision.data, "card": A})
    with pytest.raises(ValueError):
        FeedbackData.model_validate({**decision.data, "rating": 0})


def visit(runtime: KioskRuntime, card: str, now: datetime):
    runtime.handle_card(card, now)
    return runtime.handle_card(card, now + timedelta(minutes=30))


def test_the_runtime_asks_once_a_week_per_card_records_an_anonymous_answer_and_remembers_across_restarts(tmp_path):
    runtime = KioskRuntime(settings(tmp_path, feedback_every=1))
    heard: list = []
    runtime.subscribe(lambda kind, payload: heard.append(payload) if kind == "question" else None)
    try:
        out = visit(runtime, A, NOW)
        assert out.decision.feedback == "goodbye" and runtime.question is not None
        assert heard == [runtime.question]
        answered = runtime.answer_feedback(4)
        assert answered.decision.feedback == "feedback-thanks" and runtime.question is None
        assert json.loads(answered.event.to_json())["data"] == {"space": "study-24h-2f", "question": "space-rating",
                                                               "rating": 4}
        assert A not in answered.event.to_json().decode()
        visit(runtime, A, NOW + timedelta(days=2))
        assert runtime.question is None  # A was asked this week
        visit(runtime, B, NOW + timedelta(days=2))
        assert runtime.question is not None
        runtime.skip_feedback()  # skipping records nothing
        assert [json.loads(p.payload)["type"] for p in runtime.outbox.pending()].count("feedback") == 1
    finally:
        runtime.stop()
    again = KioskRuntime(settings(tmp_path, feedback_every=1))
    try:
        visit(again, A, NOW + timedelta(days=6))
        assert again.question is None  # remembered across the restart
        visit(again, A, NOW + timedelta(days=8))
        assert again.question is not None  # a week later it may be asked again
        again.question = FeedbackAsk("study-24h-2f", FEEDBACK_QUESTION, time.monotonic() - 16)
        again.tick()
        assert again.question is None  # the unanswered question went away by itself
        assert again.answer_feedback(5).decision.feedback == "not-recorded"
    finally:
        again.stop()
    rows = sqlite3.connect(runtime.settings.presence_path).execute("SELECT tag FROM feedback_asked").fetchall()
    assert len(rows) == 2 and all(A not in tag and B not in tag for (tag,) in rows)  # keyed tags, never cards
    assert A.encode() not in runtime.settings.presence_path.read_bytes()


def test_not_asked_when_disabled_and_every_nth_checkout_otherwise(tmp_path):
    off = KioskRuntime(settings(tmp_path / "off", feedback_every=0))
    try:
        visit(off, A, NOW)
        assert off.question is None
    finally:
        off.stop()
    third = KioskRuntime(settings(tmp_path / "third", feedback_every=3))
    try:
        asked = []
        for i, card in enumerate(("1111111111", "2222222222", "3333333333", "4444444444")):
            visit(third, card, NOW + timedelta(hours=i))
            asked.append(third.question is not None)
            third.skip_feedback()
        assert asked == [False, False, True, False]
    finally:
        third.stop()


@pytest.mark.slow
def test_a_rating_at_a_real_kiosk_reaches_the_gateway_and_central_without_any_card(site, gateway):
    path = site.path("kiosk-kiosk-test-a.toml")
    config = tomllib.loads(path.read_text())
    path.write_text(tomli_w.dumps({**config, "feedback_every": 1}))
    kiosk = KioskRuntime(load_kiosk(path))
    kiosk.start()
    try:
        now = datetime.now(UTC)
        kiosk.handle_card(B, now - timedelta(minutes=1))
        kiosk.handle_card(B, now)
        assert kiosk.question is not None
        answered = kiosk.answer_feedback(2)
        rows = wait_until(lambda: gateway_events(site, "SELECT id, type, seq, payload FROM events WHERE type = ?",
                                                 "feedback"), timeout=15, what="feedback stored at the gateway")
        assert [(kind, event["id"], event["data"]) for kind, _seq, event in rows] == [
            ("feedback", answered.event.id, {"space": config["space"], "question": "space-rating", "rating": 2})]
        assert B not in json.dumps(rows[0][2])

        def weeks() -> list:
            answer = httpx.get(f"{site.central_url}/api/v1/sites/{site.site}/spaces/{config['space']}/feedback",
                               headers={"Authorization": f"Bearer {site.tokens['staff']}"}, timeout=5)
            return answer.json()["weeks"] if answer.status_code == 200 else []

        week = wait_until(weeks, timeout=20, what="feedback at central")
        assert [(w["count"], w["mean"], w["distribution"]) for w in week] == [(1, 2.0, [0, 1, 0, 0, 0])]
    finally:
        kiosk.stop()
