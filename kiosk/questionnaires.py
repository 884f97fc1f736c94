"""PHQ-9 and GAD-7 with their standard wording and answer options, in English and Simplified Chinese.

Both instruments may be reproduced and displayed without permission (CLINICAL.md). The wording is the
standard one, item for item; the non-scored "how difficult" question that follows each is left out because
the contract's questionnaire holds only the scored items. Answers are 0-3 and the score is their sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Instrument = Literal["PHQ-9", "GAD-7"]


@dataclass(frozen=True, slots=True)
class Wording:
    """One instrument in one language."""

    title: str
    stem: str
    items: tuple[str, ...]
    options: tuple[str, str, str, str]


_OPTIONS_EN = ("Not at all", "Several days", "More than half the days", "Nearly every day")
_OPTIONS_ZH = ("完全不会", "好几天", "一半以上的天数", "几乎每天")

_WORDING: dict[tuple[Instrument, str], Wording] = {
    ("PHQ-9", "en"): Wording(
        "PHQ-9 (mood)",
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
        (
            "Little interest or pleasure in doing things",
            "Feeling down, depressed, or hopeless",
            "Trouble falling or staying asleep, or sleeping too much",
            "Feeling tired or having little energy",
            "Poor appetite or overeating",
            "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so "
            "fidgety or restless that you have been moving around a lot more than usual",
            "Thoughts that you would be better off dead or of hurting yourself in some way",
        ),
        _OPTIONS_EN,
    ),
    ("PHQ-9", "zh"): Wording(
        "PHQ-9（情绪）",
        "在过去的两周里，您有多少时候受到以下任何问题的困扰？",
        (
            "做事时提不起劲或没有兴趣",
            "感到心情低落、沮丧或绝望",
            "入睡困难、睡不安稳或睡眠过多",
            "感觉疲倦或没有活力",
            "食欲不振或吃太多",
            "觉得自己很糟，或觉得自己很失败，或让自己或家人失望",
            "对事物专注有困难，例如阅读报纸或看电视时",
            "动作或说话速度缓慢到别人已经察觉？或正好相反——烦躁或坐立不安、动来动去的情况更胜于平常",
            "有不如死掉或用某种方式伤害自己的念头",
        ),
        _OPTIONS_ZH,
    ),
    ("GAD-7", "en"): Wording(
        "GAD-7 (anxiety)",
        "Over the last 2 weeks, how often have you been bothered by the following problems?",
        (
            "Feeling nervous, anxious, or on edge",
            "Not being able to stop or control worrying",
            "Worrying too much about different things",
            "Trouble relaxing",
            "Being so restless that it is hard to sit still",
            "Becoming easily annoyed or irritable",
            "Feeling afraid, as if something awful might happen",
        ),
        _OPTIONS_EN,
    ),
    ("GAD-7", "zh"): Wording(
        "GAD-7（焦虑）",
        "在过去的两周里，您有多少时候受到以下问题的困扰？",
        (
            "感觉紧张、焦虑或急切",
            "不能够停止或控制担忧",
            "对各种各样的事情担忧过多",
            "很难放松下来",
            "由于不安而无法静坐",
            "变得容易烦恼或急躁",
            "感到似乎将有可怕的事情发生而害怕",
        ),
        _OPTIONS_ZH,
    ),
}

ITEM_COUNT: dict[Instrument, int] = {"PHQ-9": 9, "GAD-7": 7}


def wording(instrument: Instrument, lang: str = "en") -> Wording:
    """The standard wording of ``instrument`` in ``lang`` (English when the language is unknown)."""
    return _WORDING.get((instrument, lang)) or _WORDING[(instrument, "en")]
