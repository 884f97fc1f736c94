"""The words a student reads about a screening: every category has them in both languages, none diagnoses."""

from __future__ import annotations

import re
from typing import get_args

import pytest

from kiosk.guidance import category_label, guidance
from onestop.clinical import (
    BmiCategory,
    BpCategory,
    Gad7Band,
    HeartRateCategory,
    Phq9Band,
    ScreeningInputError,
    Spo2Category,
    TemperatureCategory,
)

CATEGORIES = {"bp": BpCategory, "spo2": Spo2Category, "temperature": TemperatureCategory,
              "heart_rate": HeartRateCategory, "bmi": BmiCategory, "phq9": Phq9Band, "gad7": Gad7Band}
_HAN = re.compile(r"[\u4e00-\u9fff]")
_DIAGNOSES = re.compile(r"hypertension|hypoxi|obesity|you have (depression|anxiety)|disorder|高血压|抑郁症|焦虑症")


@pytest.mark.parametrize("measure", sorted(CATEGORIES))
def test_every_category_has_a_label_and_guidance_in_english_and_chinese(measure):
    for category in get_args(CATEGORIES[measure]):
        for lang in ("en", "zh"):
            label, text = category_label(measure, category, lang), guidance(measure, category, lang)
            assert label and text
            assert bool(_HAN.search(text)) == (lang == "zh")
            assert not _DIAGNOSES.search(text), text  # a screen never names a diagnosis


def test_text_for_an_unknown_category_is_an_error():
    with pytest.raises(ScreeningInputError):
        guidance("bp", "hypertension")
