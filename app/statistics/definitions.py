"""THE home of every business figure: what "overdue", "closed", "checked in", "met the quota"
and a warning colour mean, each defined once. The home page, the statistics reports and their
workbook, the reminder scan and its texts, the feedback letters, the screens and the API call
these functions; none of them re-states a rule.

Each definition that lists, exports or reports need in SQL comes twice, from one reading: a
Python predicate over plain values (``is_overdue``...) and a SQLAlchemy expression over a model
or a subquery (``overdue_sql``...) that compiles on SQLite and PostgreSQL. tests/test_definitions.py
proves the two forms agree on the boundary days. The calendar (today, quarters, periods) is in
app/statistics/periods.py and re-exported here.

What the words mean:

* A resolution is **closed** (办结) when it is signed off: status ``done``. Closed *by* a day when
  it was also signed off on or before that (local) day. Any other stored status — ``open``,
  ``in_progress``, the legacy ``overdue`` — is **open** (not closed).
* A resolution is **overdue** on a day when it is not closed by that day and its deadline is
  before that day (a deadline of today is not late yet). The stored status plays no part.
* The **closure rate** is closed resolutions / resolutions (None when there are none).
* A member check-in **counts for a period** [start, end] when it was confirmed by the community
  (``confirmed_on``, else ``registered_on``) on or before ``end`` and was still valid on or after
  ``start``: status ``confirmed`` with no ``valid_until`` or one on/after ``start``, or ``expired``
  with a ``valid_until`` on/after ``start``. A check-in only ``registered`` (slip in, not yet
  confirmed) never counts.
* A member is **checked in for a period** when a check-in of theirs to the community they live in
  counts for it (members report to the community where they live; one living outside every
  community: a check-in anywhere). Several counting check-ins (a re-registration) make one
  member, and the answer is the same in every view: a community, its street and the district
  count the member alike.
* A unit check-in **counts for a period** ending ``end`` when it is ``confirmed``, confirmed (else
  registered) on or before ``end``. Unit check-ins keep no end date: an ``expired`` one never
  counts. A unit is **checked in** when one of its check-ins counts, to whichever community
  (units check in where they serve), in every view alike.
* The **service quota** of a period is the active ``ServiceQuota`` of its kind (a period of up to
  93 days: ``quarter``; longer: ``year``); among several, the oldest. With none of that kind,
  completion is not measured. A member **met the quota** when their service records dated in the
  period reach its minimum activities AND hours AND points. The **completion rate** is
  checked-in members who met the quota / checked-in members.
* The **warning level** of a resolution not closed: 0 blue (its deadline is at most ``due_days``
  away), 1 yellow (``yellow_after`` days past its deadline), 2 red (``red_after`` days past it);
  the numbers come from the enabled reminder rules ``resolution_due`` / ``resolution_overdue``.
"""
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from flask import g, has_app_context
from flask_babel import gettext as _
from sqlalchemy import String, and_, case, exists, false, func, literal, not_, or_, select

from app.extensions import db
from app.statistics.periods import (
    QUARTER_DAYS,
    evaluation_periods,
    period_bounds,
    quarter_bounds,
    quarter_label,
    quarter_of,
    quota_kind,
    today,
    utc_day_start,
)
from models import (
    WARNING_LEVELS,
    MemberCheckin,
    PartyMember,
    ReminderRule,
    ServiceQuota,
    ServiceRecord,
    Unit,
    UnitCheckin,
)

CLOSED_STATUS = "done"


def rate(numerator, denominator):
    """A share between 0 and 1, or None when there is nothing to measure."""
    return numerator / denominator if denominator else None


# ------------------------------------------------------------------------------------------------
# Resolutions: closed, open, overdue, closure rate
# ------------------------------------------------------------------------------------------------


def _signed_off_by(as_of):
    """The first UTC moment after the local day ``as_of`` (signed_off_at is naive UTC)."""
    return utc_day_start(as_of + timedelta(days=1))


def is_closed(status, signed_off_at=None, as_of=None):
    """Signed off (``done``); with ``as_of``, signed off on or before that local day too (a
    sign-off with no time recorded counts as in time)."""
    if status != CLOSED_STATUS:
        return False
    return as_of is None or signed_off_at is None or signed_off_at < _signed_off_by(as_of)


def closed_sql(model, as_of=None):
    """SQL form of ``is_closed`` over a Resolution-like model (status, signed_off_at)."""
    done = model.status == CLOSED_STATUS
    if as_of is None:
        return done
    return and_(done, or_(model.signed_off_at.is_(None), model.signed_off_at < _signed_off_by(as_of)))


def open_sql(model, as_of=None):
    """Not closed (by ``as_of``): what is still to be chased."""
    return not_(closed_sql(model, as_of))


def is_overdue(deadline, status, as_of, signed_off_at=None):
    """Not closed by ``as_of`` and its deadline is before ``as_of`` (a local date)."""
    return deadline is not None and deadline < as_of and not is_closed(status, signed_off_at, as_of)


def overdue_sql(model, as_of):
    """SQL form of ``is_overdue``."""
    return and_(open_sql(model, as_of), model.deadline < as_of)


def closure_rate(closed, resolutions):
    """Closed / resolutions, or None when there are no resolutions."""
    return rate(closed, resolutions)


# ------------------------------------------------------------------------------------------------
# Check-ins: members and units checked in for a period
# ------------------------------------------------------------------------------------------------


def member_checkin_counts(status, registered_on, confirmed_on, valid_until, start, end):
    """Whether one member check-in makes its member checked in for [start, end]."""
    confirmed_by_end = (confirmed_on or registered_on) <= end
    if status == "confirmed":
        return confirmed_by_end and (valid_until is None or valid_until >= start)
    if status == "expired":
        return confirmed_by_end and valid_until is not None and valid_until >= start
    return False


def member_checkin_counts_sql(start, end, checkin=MemberCheckin):
    """SQL form of ``member_checkin_counts`` over the MemberCheckin table (or an alias); never
    NULL (an expired check-in without ``valid_until`` is false, not unknown)."""
    c = checkin
    return and_(func.coalesce(c.confirmed_on, c.registered_on) <= end,
                or_(and_(c.status == "confirmed", or_(c.valid_until.is_(None), c.valid_until >= start)),
                    and_(c.status == "expired", c.valid_until.is_not(None), c.valid_until >= start)))


def member_is_checked_in(community_id, checkins, start, end):
    """Whether a member living in community ``community_id`` (None: outside every community) is
    checked in for [start, end], given their check-ins as (status, registered_on, confirmed_on,
    valid_until, community_id) tuples."""
    return any(member_checkin_counts(status, registered_on, confirmed_on, valid_until, start, end)
               and (community_id is None or community == community_id)
               for status, registered_on, confirmed_on, valid_until, community in checkins)


def member_checked_in_sql(start, end, member=PartyMember):
    """SQL form of ``member_is_checked_in`` for the PartyMember table (or an alias): an EXISTS
    over their check-ins, usable in WHERE and in CASE."""
    c = MemberCheckin
    return exists().where(c.member_id == member.id, member_checkin_counts_sql(start, end),
                          or_(member.community_id.is_(None), c.community_id == member.community_id))


def unit_checkin_counts(status, registered_on, confirmed_on, end):
    """Whether one unit check-in makes its unit checked in for a period ending ``end``."""
    return status == "confirmed" and (confirmed_on or registered_on) <= end


def unit_checkin_counts_sql(end, checkin=UnitCheckin):
    """SQL form of ``unit_checkin_counts``."""
    return and_(checkin.status == "confirmed", func.coalesce(checkin.confirmed_on, checkin.registered_on) <= end)


def unit_is_checked_in(checkins, end):
    """Whether a unit is checked in for a period ending ``end``, given its check-ins as
    (status, registered_on, confirmed_on) tuples."""
    return any(unit_checkin_counts(status, registered_on, confirmed_on, end)
               for status, registered_on, confirmed_on in checkins)


def unit_checked_in_sql(end, unit=Unit):
    """SQL form of ``unit_is_checked_in`` for the Unit table (or an alias): an EXISTS."""
    return exists().where(UnitCheckin.unit_id == unit.id, unit_checkin_counts_sql(end))


# ------------------------------------------------------------------------------------------------
# Service: totals of a period, the quota, completion
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """The minimums a checked-in member must reach in a period (plain values)."""

    name: str
    period: str
    min_activities: int
    min_hours: float
    min_points: float

    def describe(self):
        return _("%(name)s: at least %(activities)s activities, %(hours)s hours and %(points)s points",
                 name=self.name, activities=self.min_activities, hours=number(self.min_hours),
                 points=number(self.min_points))


def number(value):
    """1.0 → "1", 1.5 → "1.5": how quota figures are written."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def applicable_quota(start, end):
    """The active quota of the period's kind (``quota_kind``), the oldest if several; None
    when there is none of that kind (completion is then not measured)."""
    row = db.session.execute(select(ServiceQuota).where(ServiceQuota.active.is_(True),
                                                        ServiceQuota.period == quota_kind(start, end))
                             .order_by(ServiceQuota.id).limit(1)).scalar()
    if row is None:
        return None
    return Quota(row.name, row.period, row.min_activities or 0, row.min_hours or 0.0, row.min_points or 0.0)


def service_totals(start, end):
    """SELECT per member of the service records dated in [start, end]: member_id, activities,
    hours, points. Every record counts whoever verified it. Scope it (on ServiceRecord) and
    narrow it as needed, then make it a subquery."""
    s = ServiceRecord
    return (select(s.member_id.label("member_id"), func.count(s.id).label("activities"),
                   func.sum(s.hours).label("hours"), func.sum(s.points).label("points"))
            .where(s.member_id.is_not(None), s.served_on >= start, s.served_on <= end)
            .group_by(s.member_id))


def meets_quota(activities, hours, points, quota):
    """Whether a member's period totals reach every minimum of ``quota`` (never without one)."""
    if quota is None:
        return False
    return ((activities or 0) >= quota.min_activities and (hours or 0) >= quota.min_hours
            and (points or 0) >= quota.min_points)


def meets_quota_sql(activities, hours, points, quota):
    """SQL form of ``meets_quota`` over three columns (NULL — no records — is 0)."""
    if quota is None:
        return false()
    return and_(func.coalesce(activities, 0) >= quota.min_activities,
                func.coalesce(hours, 0) >= quota.min_hours,
                func.coalesce(points, 0) >= quota.min_points)


def completion_rate(met_quota, checked_in):
    """Checked-in members who met the quota / checked-in members (None when nobody is in)."""
    return rate(met_quota, checked_in)


# ------------------------------------------------------------------------------------------------
# Warnings: level (0, 1, 2) and colour (blue, yellow, red) of a resolution not closed
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Warning:
    """One step of the ladder: its level, colour code (API, WARNING_LEVELS' labels), its name in
    the Chinese reminder texts, the tag of a reminder's title and the screens' label class."""

    level: int
    colour: str
    name_zh: str
    tag_zh: str
    css: str


WARNINGS = (Warning(0, "blue", "蓝色", "【蓝色提醒】", "label-primary"),
            Warning(1, "yellow", "黄色", "【黄色预警】", "label-warning"),
            Warning(2, "red", "红色", "【红色预警】", "label-danger"))
WARNING_BY_COLOUR = {w.colour: w for w in WARNINGS}
ESCALATING_KINDS = ("resolution_due", "resolution_overdue")
DEFAULT_WARNING = {"due_days": 3, "yellow_after": 1, "red_after": 8}


def level_colour(level) -> Optional[str]:
    """0 → "blue", 1 → "yellow", 2 → "red"; None for anything else."""
    return WARNINGS[level].colour if isinstance(level, int) and 0 <= level < len(WARNINGS) else None


def rule_limits(kind, offset_days, escalate_after_days=None):
    """The thresholds one rule sets: ``resolution_due`` → {due_days}; ``resolution_overdue`` →
    {yellow_after (at least 1), red_after (None: no red)}."""
    if kind == "resolution_due":
        return {"due_days": offset_days or 0}
    yellow = max(1, offset_days or 0)
    return {"yellow_after": yellow, "red_after": None if escalate_after_days is None else yellow + escalate_after_days}


def warning_thresholds():
    """{due_days, yellow_after, red_after} of the enabled resolution rules (the widest blue, the
    earliest yellow and red); the shipped numbers when there are none. Cached per app context."""
    cached = g.get("_gongjian_warning") if has_app_context() else None
    if cached is not None:
        return cached
    rows = db.session.execute(select(ReminderRule.kind, ReminderRule.offset_days, ReminderRule.escalate_after_days)
                              .where(ReminderRule.kind.in_(ESCALATING_KINDS), ReminderRule.enabled.is_(True))).all()
    limits = [rule_limits(*row) for row in rows]
    result = dict(DEFAULT_WARNING)
    due = [item["due_days"] for item in limits if "due_days" in item]
    overdue = [item for item in limits if "yellow_after" in item]
    if due:
        result["due_days"] = max(due)
    if overdue:
        result["yellow_after"] = min(item["yellow_after"] for item in overdue)
        reds = [item["red_after"] for item in overdue if item["red_after"] is not None]
        result["red_after"] = min(reds) if reds else None
    if has_app_context():
        g._gongjian_warning = result
    return result


def warning_bounds(day, limits):
    """{level: the latest deadline that has reached it on ``day``}, for the levels ``limits`` set."""
    bounds = {}
    if limits.get("red_after") is not None:
        bounds[2] = day - timedelta(days=limits["red_after"])
    if limits.get("yellow_after") is not None:
        bounds[1] = day - timedelta(days=limits["yellow_after"])
    if limits.get("due_days") is not None:
        bounds[0] = day + timedelta(days=limits["due_days"])
    return bounds


def warning_level(deadline, status, day=None, limits=None):
    """The highest level a resolution not closed has reached on ``day`` (default: today), or None."""
    if deadline is None or is_closed(status):
        return None
    bounds = warning_bounds(day or today(), limits or warning_thresholds())
    reached = [level for level, latest in bounds.items() if deadline <= latest]
    return max(reached) if reached else None


def warning_colour(deadline, status, today=None):
    """"blue", "yellow", "red" (``warning_level``'s colour) or None."""
    return level_colour(warning_level(deadline, status, today))


def warning_reached_sql(model, level, day, limits):
    """SQL: the resolution is not closed and has reached ``level`` (or higher) on ``day``."""
    return and_(open_sql(model), model.deadline <= warning_bounds(day, limits)[level])


def warning_level_sql(model, day=None, limits=None):
    """SQL form of ``warning_level``: 0, 1, 2 or NULL."""
    bounds = warning_bounds(day or today(), limits or warning_thresholds())
    whens = [(model.deadline <= bounds[level], literal(level)) for level in sorted(bounds, reverse=True)]
    return case((closed_sql(model), literal(None)), *whens, else_=literal(None))


def warning_sql(model, today=None):
    """The warning colour's label (WARNING_LEVELS) as SQL text, or NULL: the export's cell."""
    labels = {w.level: literal(str(WARNING_LEVELS.label(w.colour)), String) for w in WARNINGS}
    return case(labels, value=warning_level_sql(model, today), else_=literal(None, String))


__all__ = [
    # the calendar (app/statistics/periods.py)
    "QUARTER_DAYS", "today", "utc_day_start", "quarter_label", "quarter_of", "quarter_bounds", "period_bounds",
    "evaluation_periods", "quota_kind",
    # resolutions
    "CLOSED_STATUS", "is_closed", "closed_sql", "open_sql", "is_overdue", "overdue_sql", "closure_rate", "rate",
    # check-ins
    "member_checkin_counts", "member_checkin_counts_sql", "member_is_checked_in", "member_checked_in_sql",
    "unit_checkin_counts", "unit_checkin_counts_sql", "unit_is_checked_in", "unit_checked_in_sql",
    # service
    "Quota", "applicable_quota", "service_totals", "meets_quota", "meets_quota_sql", "completion_rate", "number",
    # warnings
    "Warning", "WARNINGS", "WARNING_BY_COLOUR", "ESCALATING_KINDS", "DEFAULT_WARNING", "level_colour", "rule_limits",
    "warning_thresholds", "warning_bounds", "warning_level", "warning_colour", "warning_reached_sql",
    "warning_level_sql", "warning_sql",
]
