"""The kiosk refuses what the card directory refuses (``onestop.cards``), from its cfg alone: lost, blocked and
graduated cards never check anybody in or out, and a space restricted to groups admits only their cards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kiosk.config import StationConfig, merge_sections
from kiosk.controller import TapController
from kiosk.i18n import tr
from onestop import presence as tags
from onestop.cards import SiteCards, site_card_key

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
KEY = site_card_key(b"central-secret-for-tests-0123456", "test-site")
LOST, BLOCKED, GRADUATED, MEMBER, OTHER = "04AA0001", "04AA0002", "04AA0003", "04AA0004", "04AA0005"


def site_cards() -> SiteCards:
    return SiteCards(site="test-site", key=KEY.hex(), generated=NOW,
                     refused={"lost": tags.encode([tags.tag(KEY, LOST)]),
                              "blocked": tags.encode([tags.tag(KEY, BLOCKED)]),
                              "graduated": tags.encode([tags.tag(KEY, GRADUATED)])},
                     groups={"clinical-y3": tags.encode([tags.tag(KEY, MEMBER)])})


def kiosk(groups: list[str] | None = None, **config) -> TapController:
    base = StationConfig(space="skills-lab", capacity=10, **config)
    cfg = {"cards": site_cards().for_space(groups).model_dump()}  # as the gateway's cfg message carries it
    merged = merge_sections(base, cfg)
    assert not merged.refused
    return TapController("skills-lab", 10, config=merged.config)


@pytest.mark.parametrize(("card", "feedback"), [(LOST, "card-lost"), (BLOCKED, "card-blocked"),
                                                (GRADUATED, "card-expired")])
def test_a_refused_card_records_nothing_and_is_counted(card, feedback):
    controller = kiosk()
    decision = controller.tap(card, NOW)
    assert decision.feedback == feedback and decision.event_type is None and not decision.positive
    assert controller.inside == {} and controller.refused == {feedback: 1}
    assert controller.tap(card, NOW).feedback == feedback and controller.refused == {feedback: 2}
    assert tr(feedback, "en") != feedback and tr(feedback, "zh") != tr(feedback, "en")  # a bilingual message


def test_an_unrestricted_space_admits_cards_the_directory_does_not_refuse():
    controller = kiosk()
    assert controller.tap(OTHER, NOW).feedback == "welcome"
    assert controller.tap(MEMBER, NOW).feedback == "welcome"


def test_a_restricted_space_admits_its_groups_only_and_lets_anyone_inside_out():
    controller = kiosk(groups=["clinical-y3"])
    assert controller.tap(MEMBER, NOW).feedback == "welcome"
    assert controller.tap(OTHER, NOW).feedback == "not-admitted" and controller.refused == {"not-admitted": 1}
    assert controller.tap(LOST, NOW).feedback == "card-lost"
    controller.inside[OTHER] = controller.inside[MEMBER]  # inside from before the restriction
    assert controller.tap(OTHER, NOW).feedback == "goodbye"


def test_a_lost_card_is_refused_at_an_activity_too():
    controller = kiosk(activity="first-aid-course")
    assert controller.tap(LOST, NOW).feedback == "card-lost"
    assert controller.tap(OTHER, NOW).feedback == "attendance"


def test_without_a_card_list_the_kiosk_decides_as_before():
    controller = TapController("skills-lab", 10)
    assert controller.tap(LOST, NOW).feedback == "welcome"
