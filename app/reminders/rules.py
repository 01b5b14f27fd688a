"""Reminder rules (提醒规则): what each kind of rule watches, who may receive it, which template
fields it offers, the checks a rule passes on the rule screen and in the API, and the shipped rules.

The numbers of a rule (``offset_days``, ``escalate_after_days``) are read by the targets
(app/reminders/targets.py) and, for resolutions, by the warning ladder of the business definitions
(app/statistics/definitions.py).
"""
import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.record_rules import record_rule
from app.extensions import db
from models import CHANNELS, REMINDER_KINDS, ReminderRule
from models.reminder import split_codes

# The administrators a rule may name, by their recipient code → role.
ADMIN_CODES = {"community_admin": "CommunityAdmin", "street_admin": "StreetAdmin", "orgdept": "OrgDept"}
# The table each kind watches (its targets).
KIND_TARGETS = {
    "resolution_due": "resolution", "resolution_overdue": "resolution",
    "meeting_topics": "meeting", "meeting_eve": "meeting", "minutes_missing": "meeting",
    "member_not_checked_in": "party_member", "member_reregister": "party_member", "member_quota": "party_member",
    "agreement_expiring": "agreement", "unit_report_missing": "unit_checkin", "monthly_digest": "ab_user",
}
# Who, besides the administrators, may receive a reminder about each kind of target.
KIND_RECIPIENTS = {
    "resolution": ("lead_owner", "co_owners"),
    "meeting": ("attending_units", "attendees", "area_members", "note_taker"),
    "party_member": ("member",),
    "agreement": ("unit_liaison",),
    "unit_checkin": ("unit_liaison",),
    "ab_user": (),
}
# The ``{field}``s a template may use, per kind of target (app/reminders/contexts.py fills them).
TEMPLATE_FIELDS = {
    "resolution": ("title", "deadline", "lead_person", "lead_unit", "meeting", "area", "days_left",
                   "days_overdue", "colour"),
    "meeting": ("title", "held_at", "place", "convener", "note_taker", "area", "days_left", "days_since"),
    "party_member": ("name", "area", "quarter", "quarter_end", "valid_until", "activities", "hours", "points",
                     "min_activities", "min_hours", "min_points"),
    "agreement": ("title", "unit", "liaison", "ends_on", "days_left", "area"),
    "unit_checkin": ("unit", "area", "quarter", "quarter_end"),
    "ab_user": ("area", "month", "members", "checked_in", "checkin_rate", "service_rate", "overdue",
                "open_resolutions", "expiring"),
}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,49}$")


def allowed_recipients(kind):
    """The recipient codes a rule of ``kind`` may name."""
    return tuple(KIND_RECIPIENTS.get(KIND_TARGETS.get(kind), ())) + tuple(ADMIN_CODES)


# ------------------------------------------------------------------------------------------------
# Rule validation (the same messages on the rule screen and in the API)
# ------------------------------------------------------------------------------------------------


@record_rule("reminder_rule")
def _valid_rule(rec, pk):
    kind = rec.kind
    if rec.code is not None and not CODE_PATTERN.match(str(rec.code)):
        yield "code", _l("Use lower-case letters, digits and underscores, starting with a letter")
    if kind not in REMINDER_KINDS:
        yield "kind", _l("Choose what the rule watches")
        return
    if rec.offset_days is not None and not 0 <= int(rec.offset_days) <= 366:
        yield "offset_days", _l("Between 0 and 366 days")
    if rec.escalate_after_days is not None and not 0 <= int(rec.escalate_after_days) <= 366:
        yield "escalate_after_days", _l("Between 0 and 366 days")
    yield from _valid_recipients(rec, allowed_recipients(kind))
    yield from _valid_channels(rec.channels)
    yield from _valid_template(kind, rec.template)


def _codes_text(value):
    """The screen's multi-select gives a list; the API and the model a comma-separated string."""
    return ",".join(value) if isinstance(value, (list, tuple)) else (value or "")


def _valid_recipients(rec, allowed):
    for column in ("recipients", "escalation_recipients"):
        codes = split_codes(_codes_text(getattr(rec, column, None)))
        if column == "recipients" and not codes:
            yield column, _l("Choose at least one recipient")
        bad = [code for code in codes if code not in allowed]
        if bad:
            yield column, _l("Not a recipient of this kind of rule: %(codes)s", codes=", ".join(bad))


def _valid_channels(value):
    channels = split_codes(_codes_text(value))
    if not channels:
        yield "channels", _l("Choose at least one channel")
    bad = [code for code in channels if code not in CHANNELS]
    if bad:
        yield "channels", _l("Unknown channel: %(codes)s", codes=", ".join(bad))


def _valid_template(kind, template):
    if not (template or "").strip():
        yield "template", _l("Write the message template")
        return
    allowed = TEMPLATE_FIELDS[KIND_TARGETS[kind]]
    unknown = [name for name in PLACEHOLDER.findall(template) if name.strip() not in allowed]
    if unknown:
        yield "template", _l("Unknown fields %(fields)s; this rule can use: %(allowed)s",
                             fields=", ".join("{%s}" % name for name in unknown),
                             allowed=", ".join("{%s}" % name for name in allowed))


# ------------------------------------------------------------------------------------------------
# The shipped rules (content, in Chinese; created by app.reference_data, then edited by admins)
# ------------------------------------------------------------------------------------------------

SHIPPED_RULES = [
    dict(code="resolution_due", name="议定事项到期提醒", kind="resolution_due", offset_days=3,
         recipients="lead_owner,co_owners", channels="inapp,email",
         template="议定事项“{title}”将于{deadline}到期（还有{days_left}天），牵头：{lead_unit}{lead_person}。"
                  "请抓紧办理并及时反馈进度。",
         description="到期前N天提醒牵头单位和协办单位（蓝色提醒）"),
    dict(code="resolution_overdue", name="议定事项逾期预警", kind="resolution_overdue", offset_days=1,
         escalate_after_days=7, recipients="community_admin", escalation_recipients="street_admin,orgdept",
         channels="inapp,email,webhook",
         template="议定事项“{title}”已逾期{days_overdue}天（期限{deadline}），牵头：{lead_unit}{lead_person}，"
                  "所属会议：{meeting}。请督促办理。",
         description="逾期后黄色预警告知社区管理员；再过N天升级为红色预警，告知街道管理员和组织部"),
    dict(code="meeting_topics", name="会前议题征集", kind="meeting_topics", offset_days=7,
         recipients="attending_units,area_members", channels="inapp,email,sms",
         template="{area}将于{held_at}召开“{title}”，现开始征集议题，请于会前提交。",
         description="会前N天开始征集议题，通知参会单位和辖区党员"),
    dict(code="meeting_eve", name="会议前一天提醒", kind="meeting_eve", offset_days=1,
         recipients="attendees", channels="inapp,email",
         template="“{title}”将于{held_at}在{place}召开，召集人：{convener}，请准时参加。",
         description="会前一天提醒参会单位和参会人员"),
    dict(code="minutes_missing", name="会议纪要未归档提醒", kind="minutes_missing", offset_days=3,
         recipients="note_taker", channels="inapp,email",
         template="“{title}”已于{held_at}召开{days_since}天，会议纪要尚未归档，请记录人{note_taker}尽快整理归档。",
         description="会后N天纪要仍未归档，提醒记录人（无对应账号时提醒社区管理员）"),
    dict(code="member_not_checked_in", name="党员未报到提醒", kind="member_not_checked_in", offset_days=15,
         recipients="community_admin,member", channels="inapp,email,sms",
         template="在职党员{name}（{area}）尚未完成社区报到，请于{quarter_end}前完成报到。",
         description="季度结束前N天，提醒未报到党员所在社区管理员及党员本人"),
    dict(code="member_reregister", name="党员重新报到提醒", kind="member_reregister", offset_days=30,
         recipients="community_admin,member", channels="inapp,email,sms",
         template="在职党员{name}（{area}）的报到有效期至{valid_until}，请按时重新报到。",
         description="报到有效期届满前N天提醒重新报到"),
    dict(code="member_quota", name="季度服务指标提醒", kind="member_quota", offset_days=15,
         recipients="community_admin,member", channels="inapp,email,sms",
         template="在职党员{name}（{area}）本季度已参加活动{activities}次、服务{hours}小时、积分{points}，"
                  "未达到季度指标（{min_activities}次、{min_hours}小时、{min_points}分），本季度于{quarter_end}结束。",
         description="季度结束前N天，提醒未达到季度服务指标的党员及其社区管理员"),
    dict(code="agreement_expiring", name="共建协议到期提醒", kind="agreement_expiring", offset_days=30,
         recipients="community_admin,unit_liaison", channels="inapp,email",
         template="《{title}》将于{ends_on}到期（还有{days_left}天），请{unit}与{area}商议续签。",
         description="共建协议到期前N天提醒社区管理员和单位联络员"),
    dict(code="unit_report_missing", name="单位季度共建情况报送提醒", kind="unit_report_missing", offset_days=10,
         recipients="community_admin,unit_liaison", channels="inapp,email",
         template="{unit}尚未向{area}提交本季度（{quarter}）共建情况报告，请于{quarter_end}前提交。",
         description="季度结束前N天，提醒本季度尚未提交季度共建情况报告的已确认报到单位联络员及社区管理员"),
    dict(code="monthly_digest", name="月度工作简报", kind="monthly_digest", offset_days=1,
         recipients="community_admin,street_admin,orgdept", channels="inapp,email",
         template="{area}{month}工作简报：党员报到率{checkin_rate}（{checked_in}/{members}人），"
                  "本季度服务达标率{service_rate}，逾期议定事项{overdue}项（未办结{open_resolutions}项），"
                  "30天内到期共建协议{expiring}份。",
         description="每月第N天起，向每位管理员发送其辖区的报到率、逾期事项和到期协议"),
]


def ensure_rules():
    """Insert the shipped rules that are missing (by code); an admin's edits are never overwritten."""
    existing = set(db.session.execute(select(ReminderRule.code)).scalars())
    for values in SHIPPED_RULES:
        if values["code"] not in existing:
            db.session.add(ReminderRule(enabled=True, **values))
