"""What is due: for each kind of rule, one SELECT of its targets at the scan's moment —
(target_id, area_id, occasion, level) — or None when nothing of that kind is due now.

Set-based: the same statements for 10 or 10,000 records. Every business word is the definitions'
(app/statistics/definitions.py): overdue and open resolutions and their warning level, members
checked in for the quarter, the quarter's service quota and its totals, unit check-ins that count.
"""
from datetime import timedelta

from sqlalchemy import String, and_, cast, exists, func, literal, select, union_all
from sqlalchemy.orm import aliased

from app.reminders.recipients import reach
from app.reminders.rules import ADMIN_CODES
from app.statistics import definitions as defs
from models import Agreement, Meeting, MemberCheckin, PartyMember, Resolution, UnitCheckin, UnitReport


def _target_columns(target_id, area_id, occasion, level=0):
    return [target_id.label("target_id"), area_id.label("area_id"), cast(occasion, String).label("occasion"),
            literal(level).label("level") if isinstance(level, int) else level.label("level")]


def _day(column, length=10):
    """A date (or date-time) column as text, the occasion of a reminder (same on both databases)."""
    return func.substr(cast(column, String), 1, length)


def _limits(rule):
    return defs.rule_limits(rule.kind, rule.offset_days, rule.escalate_after_days)


def _resolution_due(rule, m):
    """Level 0 (blue) reached by the rule's numbers, and not overdue yet."""
    return select(*_target_columns(Resolution.id, Resolution.area_id, _day(Resolution.deadline))).where(
        defs.warning_reached_sql(Resolution, 0, m.today, _limits(rule)), ~defs.overdue_sql(Resolution, m.today))


def _resolution_overdue(rule, m):
    """Level 1 (yellow) from ``offset_days`` after the deadline; level 2 (red) from
    ``escalate_after_days`` more (the rule's numbers, definitions.warning_reached_sql). Every
    level reached is claimed (a scan that missed yellow still tells the community admin)."""
    limits = _limits(rule)
    levels = [select(*_target_columns(Resolution.id, Resolution.area_id, _day(Resolution.deadline), level))
              .where(defs.warning_reached_sql(Resolution, level, m.today, limits))
              for level in (1, 2) if level in defs.warning_bounds(m.today, limits)]
    return union_all(*levels) if len(levels) > 1 else levels[0]


def _meeting_before(rule, m):
    """Planned meetings starting within ``offset_days`` days (from tomorrow on)."""
    days = max(1, rule.offset_days)
    return select(*_target_columns(Meeting.id, Meeting.area_id, _day(Meeting.held_at, 16))).where(
        Meeting.status == "planned", Meeting.held_at >= m.day_start(m.today + timedelta(days=1)),
        Meeting.held_at < m.day_start(m.today + timedelta(days=days + 1)))


def _minutes_missing(rule, m):
    return select(*_target_columns(Meeting.id, Meeting.area_id, _day(Meeting.held_at, 16))).where(
        Meeting.status != "minutes_filed",
        Meeting.held_at < m.day_start(m.today - timedelta(days=max(0, rule.offset_days) - 1)))


def _in_quarter_window(rule, m):
    return m.today >= m.quarter_end - timedelta(days=rule.offset_days)


def _member_not_checked_in(rule, m):
    """Members not checked in for the quarter, ``offset_days`` before it ends."""
    if not _in_quarter_window(rule, m):
        return None
    return select(*_target_columns(PartyMember.id, PartyMember.area_id, literal(m.quarter))).where(
        ~defs.member_checked_in_sql(m.quarter_start, m.quarter_end))


def _member_reregister(rule, m):
    """The member's latest check-in runs out within ``offset_days`` (or already has)."""
    newer = aliased(MemberCheckin)
    later = exists().where(newer.member_id == MemberCheckin.member_id, newer.id != MemberCheckin.id,
                           newer.registered_on > MemberCheckin.registered_on)
    return select(*_target_columns(MemberCheckin.member_id, MemberCheckin.area_id, _day(MemberCheckin.valid_until))
                  ).where(MemberCheckin.status.in_(("confirmed", "expired")), MemberCheckin.valid_until.isnot(None),
                          MemberCheckin.valid_until <= m.today + timedelta(days=rule.offset_days), ~later)


def _under_quota(m, quota):
    """(members checked in for the quarter who have not met its quota, the totals subquery)."""
    totals = defs.service_totals(m.quarter_start, m.quarter_end).subquery("totals")
    met = defs.meets_quota_sql(totals.c.activities, totals.c.hours, totals.c.points, quota)
    return and_(defs.member_checked_in_sql(m.quarter_start, m.quarter_end), ~met), totals


def _member_quota(rule, m):
    """Members checked in for the quarter under its quota, ``offset_days`` before it ends."""
    quota = defs.applicable_quota(m.quarter_start, m.quarter_end) if _in_quarter_window(rule, m) else None
    if quota is None:
        return None
    under, totals = _under_quota(m, quota)
    return select(*_target_columns(PartyMember.id, PartyMember.area_id, literal(m.quarter))).select_from(
        PartyMember).outerjoin(totals, totals.c.member_id == PartyMember.id).where(under)


def _agreement_expiring(rule, m):
    """Agreements ending within ``offset_days`` that no later agreement of the check-in renews."""
    renewal = aliased(Agreement)
    renewed = exists().where(renewal.checkin_id == Agreement.checkin_id, renewal.ends_on > Agreement.ends_on)
    return select(*_target_columns(Agreement.id, Agreement.area_id, _day(Agreement.ends_on))).where(
        Agreement.ends_on >= m.today, Agreement.ends_on <= m.today + timedelta(days=rule.offset_days), ~renewed)


def _unit_report_missing(rule, m):
    """Unit check-ins that count for the quarter (definitions.unit_checkin_counts) with no
    quarterly co-building report (models/unit_report.py) for it, ``offset_days`` before it ends."""
    if not _in_quarter_window(rule, m):
        return None
    reported = exists().where(UnitReport.checkin_id == UnitCheckin.id, UnitReport.quarter == m.quarter)
    return select(*_target_columns(UnitCheckin.id, UnitCheckin.area_id, literal(m.quarter))).where(
        defs.unit_checkin_counts_sql(m.quarter_end), ~reported)


def _monthly_digest(rule, m):
    """One digest per admin a month, from day ``offset_days`` of the month (the admin is the target)."""
    if m.today.day < max(1, rule.offset_days):
        return None
    roles = [ADMIN_CODES[code] for code in rule.recipient_codes() if code in ADMIN_CODES]
    if not roles:
        return None
    r = reach().subquery("reach")
    return select(*_target_columns(r.c.user_id, r.c.scope_area_id, literal(m.month))).distinct().where(
        r.c.role.in_(roles))


TARGETS = {
    "resolution_due": _resolution_due, "resolution_overdue": _resolution_overdue,
    "meeting_topics": _meeting_before, "meeting_eve": _meeting_before, "minutes_missing": _minutes_missing,
    "member_not_checked_in": _member_not_checked_in, "member_reregister": _member_reregister,
    "member_quota": _member_quota, "agreement_expiring": _agreement_expiring,
    "unit_report_missing": _unit_report_missing, "monthly_digest": _monthly_digest,
}
