"""The screen's words in English and Simplified Chinese, and the font that can draw both.

Clinical labels and guidance live in ``kiosk.guidance``; questionnaire wording in ``kiosk.questionnaires``.
Kivy's default font (Roboto) has no Chinese glyphs and would draw boxes, so the screen uses a CJK font found
by path: the configured one, else Noto Sans CJK from Debian's ``fonts-noto-cjk`` (installed by
``scripts/setup``). When none is found the screen still works, logs one clear warning, and the language
button is hidden rather than showing boxes.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

LANGUAGES = ("en", "zh")
# The version of the consent wording below ("consent_*"): a screening records the version the student agreed
# to, so any change to those words must come with a new version.
CONSENT_VERSION = "health-consent-1"

CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)

_TEXT: dict[str, tuple[str, str]] = {
    "language": ("中文", "English"),  # the button shows the language it switches *to*
    "tap_card": ("Tap your card", "请刷卡"),
    "tap_card_health": ("Tap your card to start a health check", "请刷卡开始健康检查"),
    "occupancy": ("{count} of {capacity} places taken", "已使用 {count} / {capacity} 个位置"),
    "occupancy_open": ("{count} inside", "室内 {count} 人"),
    "offline": ("Offline — your taps are saved and sent later", "离线 — 刷卡记录已保存，稍后上传"),
    "reader_fault": ("Card reader not available — please see the front desk", "读卡器暂不可用，请联系前台"),
    "welcome": ("Welcome!", "欢迎！"),
    "welcome_detail": ("You are checked in.", "您已签到。"),
    "reservation": ("Reservation claimed", "预约已确认"),
    "reservation_detail": ("Your place is held until {until}.", "您的位置保留至 {until}。"),
    "goodbye": ("Goodbye!", "再见！"),
    "goodbye_detail": ("You are checked out.", "您已签退。"),
    "attendance": ("Attendance registered", "已登记出席"),
    "attendance_detail": ("Enjoy {name}!", "祝您参加{name}愉快！"),
    "already-registered": ("Already registered", "您已登记"),
    "already-registered_detail": ("You are on the list for {name}.", "您已在{name}的名单上。"),
    "full": ("Sorry, the space is full", "抱歉，已满员"),
    "full_detail": ("Please try again later.", "请稍后再试。"),
    "reservation-required": ("Reservation needed", "需要预约"),
    "reservation-required_detail": ("This space is open to bookings only.", "此空间仅限预约使用。"),
    "unknown-card": ("Card not recognised", "无法识别此卡"),
    "unknown-card_detail": ("Please see the front desk.", "请联系前台。"),
    "card-lost": ("Card reported lost", "此卡已挂失"),
    "card-lost_detail": ("This card cannot be used. Please see the front desk.", "此卡无法使用，请联系前台。"),
    "card-blocked": ("Card blocked", "此卡已被停用"),
    "card-blocked_detail": ("This card cannot be used here. Please see the front desk.",
                            "此卡无法在此使用，请联系前台。"),
    "card-expired": ("Card no longer valid", "此卡已失效"),
    "card-expired_detail": ("This card is no longer valid. Please see the front desk.", "此卡已失效，请联系前台。"),
    "not-admitted": ("Not open to you", "您无权进入"),
    "not-admitted_detail": ("{name} is reserved for particular groups.", "{name}仅限特定群组使用。"),
    "already-in": ("Already checked in", "您已签到"),
    "already-in_detail": ("You are already inside {name}. Check out at the exit.",
                          "您已在{name}内，离开时请在出口签退。"),
    "not-inside": ("Not checked in here", "您未在此签到"),
    "not-inside_detail": ("This is the exit of {name}; nothing was recorded.", "这里是{name}的出口，未作记录。"),
    "not-recorded": ("Not recorded", "未能记录"),
    "not-recorded_detail": ("Please try again or ask staff.", "请重试或联系工作人员。"),
    "identified": ("Hello!", "您好！"),
    "identified_detail": ("Your health check has started.", "健康检查已开始。"),
    "health_title": ("Health check", "健康检查"),
    # The consent screen (CONSENT_VERSION): what is measured, who sees it, how long it is kept.
    "consent_title": ("Before we start", "开始之前"),
    "consent_what": ("What: blood pressure, pulse, blood oxygen, temperature, weight, height and, if you choose, "
                     "two short mood questionnaires.",
                     "测量内容：血压、脉搏、血氧、体温、体重、身高，以及您自愿填写的两份简短情绪问卷。"),
    "consent_who": ("Who sees it: only the campus clinic (measurements) and counselling (questionnaires), "
                    "with your card number.",
                    "谁能看到：只有校医院（测量结果）和心理咨询中心（问卷），并与您的卡号关联。"),
    "consent_how_long": ("How long: this station deletes its copy once it is sent; the clinic keeps it in "
                         "your student health record.",
                         "保存多久：本设备发送后即删除；校医院将其保存在您的学生健康档案中。"),
    "consent_choice": ("It is your choice. If you decline, nothing is recorded.",
                       "是否参加由您决定。如拒绝，将不作任何记录。"),
    "consent_accept": ("I agree — start", "我同意，开始"),
    "consent_decline": ("No, thanks", "不同意"),
    "health_hint": ("Use any device below, in any order. Readings appear as they arrive.",
                    "可按任意顺序使用以下设备，读数会自动显示。"),
    "waiting": ("waiting…", "等待中…"),
    "bp": ("Blood pressure", "血压"),
    "heart_rate": ("Pulse", "脉搏"),
    "spo2": ("Blood oxygen", "血氧"),
    "temperature": ("Temperature", "体温"),
    "weight": ("Weight", "体重"),
    "height": ("Height", "身高"),
    "bmi": ("BMI", "BMI"),
    "phq9": ("Mood (PHQ-9)", "情绪（PHQ-9）"),
    "gad7": ("Anxiety (GAD-7)", "焦虑（GAD-7）"),
    "enter_height": ("Enter height", "输入身高"),
    "questionnaires": ("Optional questionnaires", "可选问卷"),
    "start_phq9": ("Mood questions (PHQ-9)", "情绪问卷（PHQ-9）"),
    "start_gad7": ("Anxiety questions (GAD-7)", "焦虑问卷（GAD-7）"),
    "done_mark": ("done", "已完成"),
    "see_results": ("See my results", "查看结果"),
    "cancel": ("Cancel", "取消"),
    "back": ("Back", "返回"),
    "ok": ("OK", "确定"),
    "clear": ("Clear", "清除"),
    "question_of": ("Question {n} of {total}", "第 {n} 题，共 {total} 题"),
    "results_title": ("Your results", "您的结果"),
    "score": ("score {score}", "得分 {score}"),
    "finish": ("Finish", "完成"),
    "timeout_warning": ("Still there? This screen clears in {seconds} s.", "还在吗？屏幕将在 {seconds} 秒后清除。"),
    "touch_to_stay": ("Touch to continue", "触摸以继续"),
    "status_finger-out": ("Put a finger in the clip", "请将手指放入夹子"),
    "status_searching": ("Measuring…", "测量中…"),
    "status_unstable": ("Stand still…", "请站稳…"),
    "status_probe-error": ("Check the sensor", "请检查传感器"),
    "status_no-reading": ("No reading yet", "暂无读数"),
    "height_invalid": ("Enter a height between 50 and 250 cm", "请输入 50 至 250 厘米之间的身高"),
    "device_fault": ("{device} not available", "{device} 暂不可用"),
    # The idle screen: how busy the space is (kiosk.ui.kiosk_screens.busy_level) and today's opening hours.
    "busy_quiet": ("Quiet", "安静"),
    "busy_busy": ("Busy", "较忙"),
    "busy_nearly-full": ("Nearly full", "将满"),
    "busy_full": ("Full", "已满"),
    "open_today": ("Open today {open}–{close}", "今日开放 {open}–{close}"),
    "open_all_day": ("Open 24 hours today", "今日 24 小时开放"),
    "closed_today": ("Closed today", "今日不开放"),
    # Requests (work orders, docs/work-orders.md): three taps at most — the button, a category, card or anonymous.
    "report_problem": ("Report a problem / request a service", "报告问题 / 申请服务"),
    "request_choose": ("What is it about?", "请选择类别"),
    "request_card": ("Tap your card to get a reply", "刷卡以便获得回复"),
    "request_card_hint": ("Your card is only used so that you can follow this request at any kiosk.",
                          "您的卡仅用于在任一终端查看此请求的进度。"),
    "request_anonymous": ("Send anonymously", "匿名提交"),
    "request-sent": ("Thank you — request sent", "谢谢，已提交"),
    "request-sent_detail": ("Tap “My requests” at any kiosk, then your card, to follow it.",
                            "在任一终端点击“我的请求”并刷卡即可查看进度。"),
    "request-sent-anonymous": ("Thank you — request sent", "谢谢，已提交"),
    "request-sent-anonymous_detail": ("It has gone to the team in charge.", "已转交负责部门。"),
    "my_requests": ("My requests", "我的请求"),
    "my_requests_tap": ("Tap your card to see your requests", "请刷卡查看您的请求"),
    "my_requests_none": ("No requests for this card", "此卡暂无请求"),
    "state_open": ("Received", "已收到"),
    "state_acknowledged": ("Seen by staff", "工作人员已查看"),
    "state_in-progress": ("Being handled", "处理中"),
    "state_done": ("Done", "已完成"),
    "state_rejected": ("Declined", "未受理"),
    # The feedback question after a checkout (kiosk/ui/feedback_screen.py); the slug is FEEDBACK_QUESTION.
    "feedback_question": ("How do you rate this space today?", "您对今天的这个空间评价如何？"),
    "feedback_hint": ("Optional and anonymous: your card is not sent.", "可选且匿名：不会发送您的卡号。"),
    "feedback_1": ("1 Poor", "1 很差"),
    "feedback_2": ("2", "2"),
    "feedback_3": ("3", "3"),
    "feedback_4": ("4", "4"),
    "feedback_5": ("5 Very good", "5 很好"),
    "feedback_skip": ("Skip", "跳过"),
    "feedback-thanks": ("Thank you!", "谢谢！"),
    "feedback-thanks_detail": ("Your rating helps us improve this space.", "您的评价帮助我们改进这个空间。"),
    # The results screen, when the results take more than one page.
    "more_results": ("More ▶", "更多 ▶"),
    "previous_results": ("◀ Back", "◀ 上一页"),
    "page_of": ("Page {n} of {total}", "第 {n} / {total} 页"),
}


def tr(key: str, lang: str, **values: object) -> str:
    """The text for ``key`` in ``lang`` with ``{placeholders}`` filled (the key itself if unknown)."""
    pair = _TEXT.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "zh" else pair[0]
    return text.format(**values) if values else text


def find_cjk_font(configured: Path | None = None) -> Path | None:
    """The font file to draw Chinese with, or None (logged once) when there is none."""
    candidates = [configured] if configured else []
    candidates += [Path(p) for p in CJK_FONT_CANDIDATES]
    for path in candidates:
        if path and path.is_file():
            return path
    if configured:
        log.warning("font %s not found and no CJK font installed; Chinese is disabled", configured)
    else:
        log.warning("no CJK font found (install fonts-noto-cjk); Chinese is disabled on this screen")
    return None
