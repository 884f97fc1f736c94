"""What the student reads about a screening, in English and Simplified Chinese: a label and plain guidance
for each category of ``onestop.clinical``, never a diagnosis.

Only the health station's screen shows these words, so they live with the kiosk; the categories they
explain are the shared clinical rules.
"""

from __future__ import annotations

from typing import Literal

from onestop.clinical import Measure, ScreeningInputError

Language = Literal["en", "zh"]

SCREENING_NOTE = {
    "en": "This is a screening, not a diagnosis. If you feel unwell, talk to the campus clinic.",
    "zh": "这是筛查结果，不是诊断。如感觉不适，请咨询校园诊所。",
}
PHQ9_ITEM9_GUIDANCE = {
    "en": "Thank you for telling us how you feel. A counsellor will contact you today. If you are in danger "
          "now, call emergency services or go to the campus security desk.",
    "zh": "谢谢您告诉我们您的感受。心理咨询师今天会与您联系。"
          "如果您现在有危险，请拨打急救电话或前往校园保安处。",
}

# (measure, category) -> (short label, guidance), each as (English, Chinese).
_TEXT: dict[tuple[str, str], tuple[tuple[str, str], tuple[str, str]]] = {
    ("bp", "normal"): (("Normal", "正常"), (
        "Your blood pressure is in the normal range.",
        "您的血压在正常范围内。")),
    ("bp", "elevated"): (("Elevated", "偏高"), (
        "A little above normal. Less salt, regular exercise and enough sleep help; measure again in a few "
        "weeks.",
        "略高于正常。少盐饮食、规律运动和充足睡眠有帮助；几周后请再测一次。")),
    ("bp", "stage-1"): (("High (stage 1)", "偏高（1级）"), (
        "Higher than recommended. One reading is not a diagnosis: measure again on another day, and if it "
        "stays high, book a visit at the campus clinic.",
        "高于建议范围。单次测量不能作为诊断：请改天再测；如仍偏高，请预约校园诊所。")),
    ("bp", "stage-2"): (("High (stage 2)", "偏高（2级）"), (
        "High. Please see the campus clinic within a week to have it checked.",
        "偏高。请在一周内到校园诊所复查。")),
    ("bp", "crisis"): (("Very high", "非常高"), (
        "Very high. Rest quietly for five minutes and measure again. If it is still this high, or you have "
        "chest pain, shortness of breath, a severe headache or blurred vision, go to the campus clinic now "
        "or call emergency services. The clinic team will be notified.",
        "非常高。请安静休息五分钟后再测一次。如仍然这么高，或出现胸痛、呼吸困难、剧烈头痛或视物模糊，"
        "请立即前往校园诊所或拨打急救电话。诊所团队将收到通知。")),
    ("spo2", "normal"): (("Normal", "正常"), (
        "Your blood oxygen level is normal.",
        "您的血氧饱和度正常。")),
    ("spo2", "low"): (("Slightly low", "略低"), (
        "A little below the usual range. Warm your hands and measure again; if it stays at this level, "
        "contact the campus clinic today.",
        "略低于通常范围。请暖手后再测一次；如仍在此水平，请当天联系校园诊所。")),
    ("spo2", "very-low"): (("Low", "偏低"), (
        "Low. Sit still, warm your hands and measure again. If it is still this low, or you feel short of "
        "breath, go to the campus clinic now or call emergency services. The clinic team will be notified.",
        "偏低。请坐稳、暖手后再测一次。如仍然这么低，或感到呼吸困难，请立即前往校园诊所或拨打急救电话。"
        "诊所团队将收到通知。")),
    ("temperature", "normal"): (("Normal", "正常"), (
        "Your temperature is normal.",
        "您的体温正常。")),
    ("temperature", "fever"): (("Fever", "发热"), (
        "You have a raised temperature. Rest, drink fluids and contact the campus clinic, especially if it "
        "lasts more than two days or you feel very unwell.",
        "您的体温偏高。请休息、多喝水，并联系校园诊所，尤其是持续超过两天或感觉非常不适时。")),
    ("heart_rate", "low"): (("Below typical", "低于通常"), (
        "Below the typical resting range. This is common in people who exercise a lot; if you feel dizzy or "
        "faint, see the campus clinic.",
        "低于通常的静息范围。经常运动的人常见这种情况；如感到头晕或快要晕倒，请到校园诊所就诊。")),
    ("heart_rate", "normal"): (("Typical", "正常"), (
        "Your resting heart rate is in the typical range.",
        "您的静息心率在通常范围内。")),
    ("heart_rate", "high"): (("Above typical", "高于通常"), (
        "Above the typical resting range. Sit quietly for five minutes and measure again; if it stays high, "
        "see the campus clinic.",
        "高于通常的静息范围。请安静坐五分钟后再测；如仍偏高，请到校园诊所就诊。")),
    ("bmi", "under"): (("Below healthy range", "低于健康范围"), (
        "Below the healthy range for adults. If you have lost weight without trying, talk to the campus "
        "clinic.",
        "低于成人健康范围。如果体重无故下降，请咨询校园诊所。")),
    ("bmi", "normal"): (("Healthy range", "健康范围"), (
        "In the healthy range for adults.",
        "在成人健康范围内。")),
    ("bmi", "over"): (("Above healthy range", "高于健康范围"), (
        "Above the healthy range. BMI does not account for muscle; the clinic can advise on food and "
        "activity.",
        "高于健康范围。BMI 不考虑肌肉量；诊所可为您提供饮食和运动建议。")),
    ("bmi", "obese"): (("Well above healthy range", "明显高于健康范围"), (
        "Well above the healthy range. The campus clinic can help you with a plan for food and activity.",
        "明显高于健康范围。校园诊所可以帮助您制定饮食和运动计划。")),
    ("phq9", "minimal"): (("Minimal", "极轻微"), (
        "Your answers suggest few or no signs of depression.",
        "您的回答显示几乎没有抑郁迹象。")),
    ("phq9", "mild"): (("Mild", "轻度"), (
        "Your answers suggest mild symptoms. Look after sleep, activity and time with friends; if it goes "
        "on, the counselling service is there to talk.",
        "您的回答显示轻度症状。请注意睡眠、运动和与朋友相处；如持续存在，可以找心理咨询服务聊聊。")),
    ("phq9", "moderate"): (("Moderate", "中度"), (
        "Your answers suggest moderate symptoms. We recommend talking to the counselling service; you can "
        "book at the front desk.",
        "您的回答显示中度症状。建议您与心理咨询服务谈一谈，可在前台预约。")),
    ("phq9", "moderately-severe"): (("Moderately severe", "中重度"), (
        "Your answers suggest moderately severe symptoms. Please contact the counselling service this week; "
        "the counselling team will be notified.",
        "您的回答显示中重度症状。请在本周内联系心理咨询服务；心理咨询团队将收到通知。")),
    ("phq9", "severe"): (("Severe", "重度"), (
        "Your answers suggest severe symptoms. Please contact the counselling service as soon as possible; "
        "the counselling team will be notified.",
        "您的回答显示重度症状。请尽快联系心理咨询服务；心理咨询团队将收到通知。")),
    ("gad7", "minimal"): (("Minimal", "极轻微"), (
        "Your answers suggest few or no signs of anxiety.",
        "您的回答显示几乎没有焦虑迹象。")),
    ("gad7", "mild"): (("Mild", "轻度"), (
        "Your answers suggest mild anxiety. Regular sleep, exercise and breaks help; the counselling service "
        "is there if it goes on.",
        "您的回答显示轻度焦虑。规律作息、运动和适当休息有帮助；如持续存在，可以寻求心理咨询服务。")),
    ("gad7", "moderate"): (("Moderate", "中度"), (
        "Your answers suggest moderate anxiety. A further conversation with the counselling service is "
        "recommended.",
        "您的回答显示中度焦虑。建议与心理咨询服务进一步交谈评估。")),
    ("gad7", "severe"): (("Severe", "重度"), (
        "Your answers suggest severe anxiety. Please contact the counselling service soon; the counselling "
        "team will be notified.",
        "您的回答显示重度焦虑。请尽快联系心理咨询服务；心理咨询团队将收到通知。")),
}


def _text(measure: str, category: str) -> tuple[tuple[str, str], tuple[str, str]]:
    try:
        return _TEXT[(measure, category)]
    except KeyError:
        raise ScreeningInputError(f"no text for {measure} category {category!r}") from None


def category_label(measure: Measure, category: str, lang: Language = "en") -> str:
    """A short label for a category ("High (stage 2)"), in English or Chinese."""
    return _text(measure, category)[0][lang == "zh"]


def guidance(measure: Measure, category: str, lang: Language = "en") -> str:
    """Plain guidance for the student on a category, in English or Chinese; never a diagnosis."""
    return _text(measure, category)[1][lang == "zh"]
