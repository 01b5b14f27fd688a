"""The reminder scan (催办): find what is due, claim each reminder once, send it through channels.

One scan at a moment ``now`` (naive UTC; dates are judged in Asia/Shanghai):

1. **Claim.** For each enabled rule, ONE ``INSERT … SELECT … ON CONFLICT DO NOTHING`` writes a
   pending ``ReminderDelivery`` per (rule, target, occasion, level, recipient, channel). The
   SELECT finds the targets of the rule's kind (set-based: the same number of statements for 10 or
   10,000 resolutions) and resolves recipients through ``user_scope`` the way app.scope does: an
   admin is only told about records inside their area. The database's unique key makes a repeated
   or concurrent scan claim nothing twice — there is no check-then-insert.
2. **Send.** Due deliveries (pending, a retry that is due, or a lease whose scan died) are leased
   with one UPDATE that tags them with a token, grouped in SQL per recipient, rule, level and
   channel into one message (an admin gets one list, not 300 reminders: the first items rendered
   from the rule's Chinese template, the rest counted) and sent. In-app notifications are written
   in the same transaction that marks their deliveries sent (exactly once); e-mail, webhook and SMS
   mark theirs right after each send, one UPDATE per message. A failure is retried with
   exponential backoff (app/channels.py), up to a limit; deliveries of records deleted or signed
   off meanwhile are cancelled.

What is due is judged by the business definitions (app/statistics/definitions.py): overdue and
closed resolutions and their warning level, members and units checked in for the quarter, the
quarter's service quota, the quarter itself. The texts quote the same figures.

A killed scan loses nothing: unsent claims stay pending and expired leases are taken again.
"""
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, case, cast, exists, func, literal, or_, select, true, union_all, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

from app import channels as channel_mod
from app import stats
from app.extensions import db
from app.scope import GLOBAL_ROLES, UNRESTRICTED, Scope
from app.statistics import definitions as defs
from app.statistics.definitions import ESCALATING_KINDS
from app.validation import record_rule
from models.base import LOCAL_TIMEZONE

TIMEZONE = LOCAL_TIMEZONE
GROUP_LINES = 20  # lines listed in one grouped message; the rest are counted and linked

# ------------------------------------------------------------------------------------------------
# What each kind watches: its target table, its recipients and its template fields.
# ------------------------------------------------------------------------------------------------

ADMIN_CODES = {"community_admin": "CommunityAdmin", "street_admin": "StreetAdmin", "orgdept": "OrgDept"}
KIND_TARGETS = {
    "resolution_due": "resolution", "resolution_overdue": "resolution",
    "meeting_topics": "meeting", "meeting_eve": "meeting", "minutes_missing": "meeting",
    "member_not_checked_in": "party_member", "member_reregister": "party_member", "member_quota": "party_member",
    "agreement_expiring": "agreement", "unit_report_missing": "unit_checkin", "monthly_digest": "ab_user",
}
_MEETING_CODES = ("attending_units", "attendees", "area_members", "note_taker")
KIND_RECIPIENTS = {
    "resolution": ("lead_owner", "co_owners"),
    "meeting": _MEETING_CODES,
    "party_member": ("member",),
    "agreement": ("unit_liaison",),
    "unit_checkin": ("unit_liaison",),
    "ab_user": (),
}
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
# Where a single reminder links to (FAB's route of the screen), and a group of them.
SHOW_URLS = {"resolution": "/resolutionview/show/{id}", "meeting": "/meetingview/show/{id}",
             "party_member": "/partymemberview/show/{id}", "agreement": "/agreementview/show/{id}",
             "unit_checkin": "/unitcheckinview/show/{id}", "ab_user": "/"}
LIST_URLS = {"resolution": "/resolutionview/list/", "meeting": "/meetingview/list/",
             "party_member": "/partymemberview/list/", "agreement": "/agreementview/list/",
             "unit_checkin": "/unitcheckinview/list/", "ab_user": "/"}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def allowed_recipients(kind):
    return tuple(KIND_RECIPIENTS.get(KIND_TARGETS.get(kind), ())) + tuple(ADMIN_CODES)


# ------------------------------------------------------------------------------------------------
# Dates
# ------------------------------------------------------------------------------------------------


def parse_moment(text):
    """An ISO date-time from the command line: local time unless it names its offset; → naive UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(TIMEZONE))
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@dataclass
class Moment:
    """Everything a scan needs to know about ``now``: the district's date and its quarter."""

    now: datetime
    today: date = None
    quarter: str = ""
    quarter_start: date = None
    quarter_end: date = None
    month: str = ""

    def __post_init__(self):
        self.today = defs.today(self.now)
        self.quarter, self.quarter_start, self.quarter_end = defs.quarter_of(self.today)
        self.month = f"{self.today:%Y-%m}"

    def day_start(self, day):
        return datetime.combine(day, time.min)


# ------------------------------------------------------------------------------------------------
# Targets of each kind: SELECT target_id, area_id, occasion, level (None: nothing due now)
# ------------------------------------------------------------------------------------------------


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
    from models import Resolution

    return select(*_target_columns(Resolution.id, Resolution.area_id, _day(Resolution.deadline))).where(
        defs.warning_reached_sql(Resolution, 0, m.today, _limits(rule)), ~defs.overdue_sql(Resolution, m.today))


def _resolution_overdue(rule, m):
    """Level 1 (yellow) from ``offset_days`` after the deadline; level 2 (red) from
    ``escalate_after_days`` more (the rule's numbers, definitions.warning_reached_sql). Every
    level reached is claimed (a scan that missed yellow still tells the community admin)."""
    from models import Resolution

    limits = _limits(rule)
    levels = [select(*_target_columns(Resolution.id, Resolution.area_id, _day(Resolution.deadline), level))
              .where(defs.warning_reached_sql(Resolution, level, m.today, limits))
              for level in (1, 2) if level in defs.warning_bounds(m.today, limits)]
    return union_all(*levels) if len(levels) > 1 else levels[0]


def _meeting_before(rule, m):
    """Planned meetings starting within ``offset_days`` days (from tomorrow on)."""
    from models import Meeting

    days = max(1, rule.offset_days)
    return select(*_target_columns(Meeting.id, Meeting.area_id, _day(Meeting.held_at, 16))).where(
        Meeting.status == "planned", Meeting.held_at >= m.day_start(m.today + timedelta(days=1)),
        Meeting.held_at < m.day_start(m.today + timedelta(days=days + 1)))


def _minutes_missing(rule, m):
    from models import Meeting

    return select(*_target_columns(Meeting.id, Meeting.area_id, _day(Meeting.held_at, 16))).where(
        Meeting.status != "minutes_filed",
        Meeting.held_at < m.day_start(m.today - timedelta(days=max(0, rule.offset_days) - 1)))


def _in_quarter_window(rule, m):
    return m.today >= m.quarter_end - timedelta(days=rule.offset_days)


def checked_in(m):
    """SQL: the member (``PartyMember``) is checked in for the scan's quarter."""
    return defs.member_checked_in_sql(m.quarter_start, m.quarter_end)


def _member_not_checked_in(rule, m):
    """Members not checked in for the quarter, ``offset_days`` before it ends."""
    from models import PartyMember

    if not _in_quarter_window(rule, m):
        return None
    return select(*_target_columns(PartyMember.id, PartyMember.area_id, literal(m.quarter))).where(
        ~checked_in(m))


def _member_reregister(rule, m):
    """The member's latest check-in runs out within ``offset_days`` (or already has)."""
    from models import MemberCheckin

    newer = aliased(MemberCheckin)
    later = exists().where(newer.member_id == MemberCheckin.member_id, newer.id != MemberCheckin.id,
                           newer.registered_on > MemberCheckin.registered_on)
    return select(*_target_columns(MemberCheckin.member_id, MemberCheckin.area_id, _day(MemberCheckin.valid_until))
                  ).where(MemberCheckin.status.in_(("confirmed", "expired")), MemberCheckin.valid_until.isnot(None),
                          MemberCheckin.valid_until <= m.today + timedelta(days=rule.offset_days), ~later)


def quarter_quota(m):
    """The quarter's service quota (definitions.applicable_quota), or None."""
    return defs.applicable_quota(m.quarter_start, m.quarter_end)


def service_totals(m, member_ids=None):
    """Subquery per member (of ``member_ids``, or all): the quarter's service totals."""
    from models import ServiceRecord

    query = defs.service_totals(m.quarter_start, m.quarter_end)
    if member_ids is not None:
        query = query.where(ServiceRecord.member_id.in_(member_ids))
    return query.subquery("totals")


def _under_quota(m, quota):
    """(members checked in for the quarter who have not met its quota, the totals subquery)."""
    totals = service_totals(m)
    met = defs.meets_quota_sql(totals.c.activities, totals.c.hours, totals.c.points, quota)
    return and_(checked_in(m), ~met), totals


def _member_quota(rule, m):
    """Members checked in for the quarter under its quota, ``offset_days`` before it ends."""
    from models import PartyMember

    quota = quarter_quota(m) if _in_quarter_window(rule, m) else None
    if quota is None:
        return None
    under, totals = _under_quota(m, quota)
    return select(*_target_columns(PartyMember.id, PartyMember.area_id, literal(m.quarter))).select_from(
        PartyMember).outerjoin(totals, totals.c.member_id == PartyMember.id).where(under)


def _agreement_expiring(rule, m):
    """Agreements ending within ``offset_days`` that no later agreement of the check-in renews."""
    from models import Agreement

    renewal = aliased(Agreement)
    renewed = exists().where(renewal.checkin_id == Agreement.checkin_id, renewal.ends_on > Agreement.ends_on)
    return select(*_target_columns(Agreement.id, Agreement.area_id, _day(Agreement.ends_on))).where(
        Agreement.ends_on >= m.today, Agreement.ends_on <= m.today + timedelta(days=rule.offset_days), ~renewed)


def _unit_report_missing(rule, m):
    """Unit check-ins that count for the quarter (definitions.unit_checkin_counts) with no
    quarterly co-building report (models/unit_report.py) for it, ``offset_days`` before it ends."""
    from models import UnitCheckin, UnitReport

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


# ------------------------------------------------------------------------------------------------
# Recipients: each code is a SELECT (target columns…, recipient_type, recipient_id) joined to t
# ------------------------------------------------------------------------------------------------


def reach():
    """Accounts that may be told about area records, as app.scope sees them: (user_id, role,
    scope_area_id, scope_path) with scope_path NULL for district-wide roles without a scope row.
    Accounts scoped to a unit are reached through their unit only (``_liaisons``)."""
    from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role

    from models import Area, UserScope

    return (select(User.id.label("user_id"), Role.name.label("role"), UserScope.area_id.label("scope_area_id"),
                   Area.path.label("scope_path"))
            .select_from(User).join(assoc_user_role, assoc_user_role.c.user_id == User.id)
            .join(Role, Role.id == assoc_user_role.c.role_id)
            .outerjoin(UserScope, UserScope.user_id == User.id).outerjoin(Area, Area.id == UserScope.area_id)
            .where(User.active.is_(True), UserScope.unit_id.is_(None),
                   or_(Area.path.isnot(None), and_(UserScope.id.is_(None) | UserScope.area_id.is_(None),
                                                   Role.name.in_(sorted(GLOBAL_ROLES))))))


def _covers(scope_path, target_path):
    """The account's scope holds the target's area (a prefix of the materialised path)."""
    return or_(scope_path.is_(None), target_path.startswith(scope_path))


def _row(t, recipient_type, recipient_id):
    return [t.c.target_id, t.c.area_id, t.c.occasion, t.c.level, literal(recipient_type).label("recipient_type"),
            recipient_id.label("recipient_id")]


def _target_area(t):
    from models import Area

    area = aliased(Area, name="target_area")
    return area, (area.id == t.c.area_id)


def area_reach():
    """(area_id, user_id, role): every area each account may be told about — computed once per
    claim over the few hundred accounts and the areas, so targets join it on ``area_id`` (an
    equi-join) instead of matching path prefixes row by row."""
    from models import Area

    r = reach().subquery("reach")
    return select(Area.id.label("area_id"), r.c.user_id, r.c.role).select_from(Area).join(
        r, _covers(r.c.scope_path, Area.path))


class Sources:
    """What the recipient SELECTs of one claim share: the targets ``t``, the scan's moment and
    the area reach CTE."""

    def __init__(self, t, moment):
        self.t = t
        self.moment = moment
        # MATERIALIZED: computed once, then joined on area_id (both databases honour the hint).
        self.reach = area_reach().cte("area_reach").prefix_with("MATERIALIZED")


def _admins(src, role):
    t, ar = src.t, src.reach
    return select(*_row(t, "user", ar.c.user_id)).select_from(t).join(
        ar, and_(ar.c.area_id == t.c.area_id, ar.c.role == role))


def _liaisons(src, joins, unit_column):
    """Accounts of unit liaisons whose unit is ``unit_column`` (reached from ``t`` through
    ``joins``), within their area too when their scope names one."""
    from flask_appbuilder.security.sqla.models import User

    from models import Area, UserScope

    t = src.t
    area, on_area = _target_area(t)
    scope_area = aliased(Area, name="liaison_area")
    query = select(*_row(t, "user", UserScope.user_id)).select_from(t).join(area, on_area)
    for table, on in joins:
        query = query.join(table, on)
    return (query.join(UserScope, UserScope.unit_id == unit_column)
            .join(User, and_(User.id == UserScope.user_id, User.active.is_(True)))
            .outerjoin(scope_area, scope_area.id == UserScope.area_id)
            .where(_covers(scope_area.path, area.path)))


def _named(src, joins, text_of_target, contains=False):
    """Accounts (within scope) whose name — 姓 + 名, or first + last — is ``text_of_target`` (or, with
    ``contains``, appears in it): the lead owner, the note-taker, the attendees."""
    from flask_appbuilder.security.sqla.models import User

    t, ar = src.t, src.reach
    names = (User.last_name + User.first_name, User.first_name + User.last_name)
    if contains:
        match = or_(*(and_(func.length(n) >= 2, text_of_target.contains(n)) for n in names))
    else:
        match = or_(*(func.trim(text_of_target) == n for n in names))
    query = select(*_row(t, "user", ar.c.user_id)).select_from(t)
    for table, on in joins:
        query = query.join(table, on)
    return query.join(ar, ar.c.area_id == t.c.area_id).join(User, User.id == ar.c.user_id).where(match).distinct()


def _note_taker(src):
    """The note-taker's account; when no account matches, the community admin files the minutes."""
    from models import Meeting

    t = src.t
    joins = [(Meeting, Meeting.id == t.c.target_id)]
    found = _named(src, joins, Meeting.note_taker)
    matched = found.subquery("matched")
    nobody = ~select(matched.c.target_id).where(matched.c.target_id == t.c.target_id).exists()
    return [found, _admins(src, "CommunityAdmin").where(nobody)]


def _recipient_selects(kind, code, src):
    """The SELECTs (to be UNIONed) of one recipient code for the targets ``src.t``."""
    from models import Agreement, Area, Meeting, PartyMember, Resolution, UnitCheckin
    from models.meeting import meeting_unit, resolution_co_unit

    t = src.t
    target = KIND_TARGETS[kind]
    if code in ADMIN_CODES:
        if target == "ab_user":  # the digest goes to the admin it is about
            return [select(*_row(t, "user", t.c.target_id))]
        return [_admins(src, ADMIN_CODES[code])]
    if code == "lead_owner":
        joins = [(Resolution, Resolution.id == t.c.target_id)]
        return [_liaisons(src, joins, Resolution.lead_unit_id), _named(src, joins, Resolution.lead_person)]
    if code == "co_owners":
        co = [(resolution_co_unit, resolution_co_unit.c.resolution_id == t.c.target_id)]
        joins = [(Resolution, Resolution.id == t.c.target_id)]
        return [_liaisons(src, co, resolution_co_unit.c.unit_id),
                _named(src, joins, func.coalesce(Resolution.co_owners, ""), contains=True)]
    if code in ("attending_units", "attendees"):
        units = [(meeting_unit, meeting_unit.c.meeting_id == t.c.target_id)]
        if code == "attending_units":
            return [_liaisons(src, units, meeting_unit.c.unit_id)]
        joins = [(Meeting, Meeting.id == t.c.target_id)]
        people = (func.coalesce(Meeting.attendees, "") + "，" + Meeting.convener + "，"
                  + func.coalesce(Meeting.note_taker, ""))
        return [_liaisons(src, units, meeting_unit.c.unit_id), _named(src, joins, people, contains=True)]
    if code == "area_members":
        area, on_area = _target_area(t)
        home = aliased(Area, name="home")
        return [select(*_row(t, "member", PartyMember.id)).select_from(t).join(area, on_area)
                .join(home, home.path.startswith(area.path)).join(PartyMember, PartyMember.area_id == home.id)
                .where(checked_in(src.moment))]
    if code == "note_taker":
        return _note_taker(src)
    if code == "member":
        return [select(*_row(t, "member", t.c.target_id))]
    if code == "unit_liaison":
        if target == "agreement":
            joins = [(Agreement, Agreement.id == t.c.target_id), (UnitCheckin, UnitCheckin.id == Agreement.checkin_id)]
        else:
            joins = [(UnitCheckin, UnitCheckin.id == t.c.target_id)]
        return [_liaisons(src, joins, UnitCheckin.unit_id)]
    raise ValueError(f"recipient {code!r} does not apply to {kind}")


def recipients(rule, t, moment):
    """Every (target, recipient) of the rule; the red level has its own recipients when given."""
    groups = [(None, rule.recipient_codes(0))]
    if rule.kind == "resolution_overdue" and rule.escalation_recipients:
        groups = [(lambda level: level < 2, rule.recipient_codes(0)),
                  (lambda level: level >= 2, rule.recipient_codes(2))]
    selects = []
    src = Sources(t, moment)
    for level_filter, codes in groups:
        for code in codes:
            if code not in allowed_recipients(rule.kind):
                continue
            for query in _recipient_selects(rule.kind, code, src):
                if level_filter is not None:
                    found = query.subquery()
                    query = select(found).where(level_filter(found.c.level))
                selects.append(query)
    # UNION ALL: a recipient found twice is claimed once all the same (ON CONFLICT DO NOTHING also
    # skips a duplicate within the statement), and no sort of every row is needed.
    return union_all(*selects) if len(selects) > 1 else (selects[0] if selects else None)


# ------------------------------------------------------------------------------------------------
# Claims: one INSERT … SELECT … ON CONFLICT DO NOTHING per rule
# ------------------------------------------------------------------------------------------------


def _insert(table):
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _channel_rows(rule, t, r, channel):
    """The claims of one channel: who it can address among the recipients ``r``."""
    from flask_appbuilder.security.sqla.models import User

    from models import PartyMember

    cols = [r.c.target_id, r.c.area_id, r.c.occasion, r.c.level, r.c.recipient_type, r.c.recipient_id]
    if channel == "inapp":
        return select(*cols, literal("inapp").label("channel")).where(r.c.recipient_type == "user")
    if channel == "email":
        return (select(*cols, literal("email").label("channel")).select_from(r)
                .join(User, User.id == r.c.recipient_id)
                .where(r.c.recipient_type == "user", User.email.isnot(None), User.email != ""))
    if channel == "sms":
        return (select(*cols, literal("sms").label("channel")).select_from(r)
                .join(PartyMember, PartyMember.id == r.c.recipient_id)
                .where(r.c.recipient_type == "member", PartyMember.phone.isnot(None), PartyMember.phone != ""))
    if channel == "webhook":  # one message per item to the group robot, whoever else is told
        return select(t.c.target_id, t.c.area_id, t.c.occasion, t.c.level, literal("group"), literal(0),
                      literal("webhook").label("channel")).distinct()
    return None


def claim(rule, moment, enabled_channels):
    """Claim the rule's due reminders; returns how many new deliveries were written."""
    from models import ReminderDelivery

    targets = TARGETS[rule.kind](rule, moment)
    if targets is None:
        return 0
    t = targets.cte("t")
    found = recipients(rule, t, moment)
    r = found.cte("r") if found is not None else None
    branches = []
    for channel in rule.channel_codes():
        if channel not in enabled_channels or (r is None and channel != "webhook"):
            continue
        rows = _channel_rows(rule, t, r, channel)
        if rows is not None:
            branches.append(rows)
    if not branches:
        return 0
    rows = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("claims")
    source = (select(literal(rule.id), literal(KIND_TARGETS[rule.kind]), rows.c.target_id, rows.c.occasion,
                     rows.c.level, rows.c.recipient_type, rows.c.recipient_id, rows.c.channel, rows.c.area_id,
                     literal("pending"), literal(0), literal(moment_now()))
              .where(true()))  # SQLite needs a WHERE before ON CONFLICT (else it reads ON as a join's)
    if db.engine.dialect.name == "postgresql":
        # Concurrent claimers then lock the same keys in the same order: no deadlock.
        source = source.order_by(rows.c.target_id, rows.c.level, rows.c.recipient_id, rows.c.channel)
    statement = _insert(ReminderDelivery.__table__).from_select(
        ["rule_id", "target_type", "target_id", "occasion", "level", "recipient_type", "recipient_id", "channel",
         "target_area_id", "state", "attempts", "created_at"], source).on_conflict_do_nothing()
    statement = statement.execution_options(preserve_rowcount=True)
    return _with_retries(lambda: _inserted(db.session.execute(statement)))


def _inserted(result):
    """Rows an INSERT wrote. Python's sqlite3 reports -1 for a statement that starts with WITH
    (the CTEs come first), so SQLite is asked directly."""
    if (result.rowcount is not None and result.rowcount >= 0) or db.engine.dialect.name != "sqlite":
        return max(0, result.rowcount or 0)
    from sqlalchemy import text

    return db.session.execute(text("SELECT changes()")).scalar_one()


def moment_now():
    from models.base import utcnow

    return utcnow()


def _with_retries(work, tries=3):
    """Run a write and commit; a deadlock or a lock timeout between concurrent scans is retried."""
    for attempt in range(tries):
        try:
            result = work()
            db.session.commit()
            return result
        except DBAPIError as exc:
            db.session.rollback()
            if attempt == tries - 1 or not _is_transient(exc):
                raise
    return None


def _is_transient(exc):
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "deadlock" in text or "locked" in text or "could not serialize" in text


# ------------------------------------------------------------------------------------------------
# Sending: lease due deliveries, render them, send through channels, record the outcome
# ------------------------------------------------------------------------------------------------


@dataclass
class RuleCount:
    name: str
    claimed: int = 0
    sent: int = 0
    failed: int = 0


@dataclass
class ScanReport:
    """What one scan did, per rule code (the CLI prints it; the task returns ``as_dict``)."""

    rules: dict = field(default_factory=dict)

    def count(self, code, name):
        return self.rules.setdefault(code, RuleCount(name))

    def as_dict(self):
        return {code: {"name": c.name, "claimed": c.claimed, "sent": c.sent, "failed": c.failed}
                for code, c in self.rules.items()}

    @property
    def sent(self):
        return sum(c.sent for c in self.rules.values())


def _settings():
    config = current_app.config
    return {
        "lease": timedelta(seconds=int(config.get("REMINDER_LEASE_SECONDS", 600))),
        "batch": int(config.get("REMINDER_SEND_BATCH", 1000000)),
        "max_attempts": int(config.get("REMINDER_MAX_ATTEMPTS", 6)),
        "backoff": int(config.get("REMINDER_BACKOFF_SECONDS", 60)),
        "backoff_cap": int(config.get("REMINDER_BACKOFF_MAX_SECONDS", 6 * 3600)),
        "base_url": (config.get("REMINDER_BASE_URL") or "").rstrip("/"),
    }


def _due_clause(clock, enabled):
    from models import ReminderDelivery as D, ReminderRule

    return and_(
        D.channel.in_(enabled),
        D.rule_id.in_(select(ReminderRule.id).where(ReminderRule.enabled.is_(True))),
        or_(D.state == "pending", and_(D.state == "failed", D.next_attempt_at <= clock),
            and_(D.state == "sending", D.lease_until < clock)))


def lease(clock, enabled, settings):
    """Take up to a batch of due deliveries for this scan; returns (token, how many) or None.

    The conditions are repeated outside the id subquery so that, on PostgreSQL, a row another scan
    leased meanwhile is re-checked after its lock is released, and skipped."""
    from models import ReminderDelivery as D

    token = uuid.uuid4().hex
    due = _due_clause(clock, enabled)
    ids = select(D.id).where(due).order_by(D.id).limit(settings["batch"])
    statement = (update(D).where(D.id.in_(ids), due)
                 .values(state="sending", lease_token=token, lease_until=clock + settings["lease"],
                         next_attempt_at=None, attempts=D.attempts + 1).execution_options(synchronize_session=False))
    taken = _with_retries(lambda: db.session.execute(statement).rowcount)
    return (token, taken) if taken else None


# A delivery not sent yet is cancelled when its target is gone or no longer needs chasing.
STILL_NEEDED = {
    "resolution": lambda: ("Resolution", defs.open_sql),
    "meeting": lambda: ("Meeting", None),
    "party_member": lambda: ("PartyMember", None),
    "agreement": lambda: ("Agreement", None),
    "unit_checkin": lambda: ("UnitCheckin", None),
}


def cancel_stale():
    """One UPDATE per target type: waiting deliveries of deleted or signed-off targets."""
    import models
    from models import ReminderDelivery as D

    for target_type, spec in STILL_NEEDED.items():
        name, condition = spec()
        model = getattr(models, name)
        alive = select(model.id).where(model.id == D.target_id)
        if condition is not None:
            alive = alive.where(condition(model))
        statement = (update(D).where(D.state.in_(("pending", "failed")), D.target_type == target_type,
                                     ~alive.exists())
                     .values(state="cancelled", last_error="the record no longer needs this reminder",
                             next_attempt_at=None).execution_options(synchronize_session=False))
        _with_retries(lambda: db.session.execute(statement))


GROUP_KEY = ("channel", "recipient_type", "recipient_id", "rule_id", "level")


def _leased_groups(token):
    """One row per (channel, recipient, rule, level) of the lease, with its size and address."""
    from flask_appbuilder.security.sqla.models import User

    from models import PartyMember, ReminderDelivery as D

    user_name = (User.last_name + User.first_name).label("user_name")
    columns = [getattr(D, key) for key in GROUP_KEY]
    return db.session.execute(
        select(*columns, func.count().label("n"), User.email, user_name, PartyMember.phone,
               PartyMember.name.label("member_name"))
        .outerjoin(User, and_(D.recipient_type == "user", User.id == D.recipient_id))
        .outerjoin(PartyMember, and_(D.recipient_type == "member", PartyMember.id == D.recipient_id))
        .where(D.lease_token == token)
        .group_by(*columns, User.email, User.last_name, User.first_name, PartyMember.phone, PartyMember.name)
        .order_by(*columns)).all()


def _shown_items(token):
    """{group key: [(target_type, target_id)]}: the first GROUP_LINES items of each group (a
    window function: the rest of a big group is only counted, never loaded)."""
    from models import ReminderDelivery as D

    columns = [getattr(D, key) for key in GROUP_KEY]
    number = func.row_number().over(partition_by=columns, order_by=(D.target_type, D.target_id)).label("rn")
    ranked = select(*columns, D.target_type, D.target_id, number).where(D.lease_token == token).subquery()
    shown = {}
    for row in db.session.execute(select(ranked).where(ranked.c.rn <= GROUP_LINES).order_by(ranked.c.rn)):
        key = tuple(getattr(row, name) for name in GROUP_KEY)
        shown.setdefault(key, []).append((row.target_type, row.target_id))
    return shown


def _rules_by_id():
    from models import ReminderRule

    return {r.id: r for r in db.session.execute(
        select(ReminderRule.id, ReminderRule.code, ReminderRule.name, ReminderRule.kind, ReminderRule.template))}


def send_due(clock=None, report=None):
    """Send every due delivery (new, retry due, or abandoned by a dead scan). Returns the report."""
    from models.base import utcnow

    clock = clock or utcnow()
    report = report if report is not None else ScanReport()
    settings = _settings()
    enabled = channel_mod.enabled_channels(current_app.config)
    cancel_stale()
    rules = _rules_by_id()
    if "inapp" in enabled:
        _send_in_app(clock, settings, report, rules)
    outside = [code for code in enabled if code != "inapp"]
    while outside:
        leased = lease(clock, outside, settings)
        if leased is None:
            break
        token, taken = leased
        _send_leased(token, clock, settings, report, rules)
        if taken < settings["batch"]:
            break
    return report


def _send_in_app(clock, settings, report, rules):
    """In-app reminders in ONE transaction: mark the due ones sent, write their notifications,
    commit. A scan killed before the commit leaves them due; a concurrent scan waits for the
    rows (PostgreSQL re-checks them after the lock, SQLite has one writer) and finds them sent."""
    from models import Notification, ReminderDelivery as D

    token = uuid.uuid4().hex
    statement = (update(D).where(_due_clause(clock, ["inapp"]))
                 .values(state="sent", sent_at=clock, lease_token=token, lease_until=None, next_attempt_at=None,
                         last_error=None, attempts=D.attempts + 1).execution_options(synchronize_session=False))

    def work():
        if not db.session.execute(statement).rowcount:
            return []
        groups = _leased_groups(token)
        shown = _shown_items(token)
        contexts = load_contexts(shown, Moment(clock))
        channel = channel_mod.open_channel("inapp", current_app.config)
        for group in groups:
            key = tuple(getattr(group, name) for name in GROUP_KEY)
            channel.send(build_message(group, shown.get(key, []), contexts, rules[group.rule_id], settings))
        db.session.execute(Notification.__table__.insert(), channel.take_rows())
        return groups

    for group in _with_retries(work) or []:
        report.count(rules[group.rule_id].code, rules[group.rule_id].name).sent += group.n


def _send_leased(token, clock, settings, report, rules):
    groups = _leased_groups(token)
    shown = _shown_items(token)
    contexts = load_contexts(shown, Moment(clock))
    by_channel = {}
    for group in groups:
        by_channel.setdefault(group.channel, []).append(group)
    # In-app first (local and never down), then each outside channel on its own.
    for channel in sorted(by_channel, key=lambda code: code != "inapp"):
        _send_channel(channel, by_channel[channel], shown, contexts, token, clock, settings, report, rules)


def _send_channel(code, groups, shown, contexts, token, clock, settings, report, rules):
    channel = channel_mod.open_channel(code, current_app.config)
    outcomes = []  # (group, message, error or None)
    down = None
    try:
        for group in groups:
            key = tuple(getattr(group, name) for name in GROUP_KEY)
            message = build_message(group, shown.get(key, []), contexts, rules[group.rule_id], settings)
            error = down
            if error is None:
                try:
                    channel.send(message)
                except channel_mod.ChannelUnavailable as exc:
                    down = error = str(exc)  # the rest waits for the retry instead of a timeout each
                except Exception as exc:  # noqa: BLE001 - one bad message never stops the others
                    error = f"{type(exc).__name__}: {exc}"
            outcomes.append((group, message, error))
            if code != "inapp":
                _record(outcomes, token, clock, settings, report, rules)  # an outside send is recorded at once
                outcomes = []
    finally:
        channel.close()
    if code == "inapp":
        _record(outcomes, token, clock, settings, report, rules, notifications=channel.take_rows())


def _record(outcomes, token, clock, settings, report, rules, notifications=None):
    """Write the outcome of sent messages (and the in-app rows) in one transaction."""
    from models import Notification

    def work():
        if notifications:
            db.session.execute(Notification.__table__.insert(), notifications)
        for group, message, error in outcomes:
            if error is None:
                _mark_sent(token, group, message, clock)
            else:
                _mark_failed(token, group, error, clock, settings)

    _with_retries(work)
    for group, _message, error in outcomes:
        count = report.count(rules[group.rule_id].code, rules[group.rule_id].name)
        if error is None:
            count.sent += group.n
        else:
            count.failed += group.n


def _in_group(token, group):
    from models import ReminderDelivery as D

    return and_(D.lease_token == token, *(getattr(D, name) == getattr(group, name) for name in GROUP_KEY))


def _mark_sent(token, group, message, clock):
    """One UPDATE per message. A one-item message keeps its text; a list keeps its title (the
    list itself is in the notification or the e-mail, not copied onto every row)."""
    from models import ReminderDelivery as D

    # The lease token stays: it says which scan sent it, and leaving it spares an index update
    # per row (next_attempt_at is already empty: a row due for retry was reset when it was leased).
    db.session.execute(update(D).where(_in_group(token, group)).values(
        state="sent", sent_at=clock, subject=message.title[:200], body=message.body if group.n == 1 else None,
        last_error=None).execution_options(synchronize_session=False))


def _mark_failed(token, group, error, clock, settings):
    """Failed again: retry after the backoff of its attempt count, or give up at the limit."""
    from models import ReminderDelivery as D

    limit = settings["max_attempts"]
    retry_at = case(*[(D.attempts == n, clock + timedelta(seconds=channel_mod.backoff_seconds(
        n, settings["backoff"], settings["backoff_cap"]))) for n in range(1, limit)], else_=None)
    db.session.execute(update(D).where(_in_group(token, group)).values(
        state=case((D.attempts >= limit, "dead"), else_="failed"), next_attempt_at=retry_at,
        last_error=str(error)[:2000], lease_token=None, lease_until=None
    ).execution_options(synchronize_session=False))


# ------------------------------------------------------------------------------------------------
# Messages: the rule's template rendered per target; several targets make one list
# ------------------------------------------------------------------------------------------------


def render(template, context):
    """Fill ``{field}`` placeholders (nothing else: no attribute access, no format specs)."""
    return PLACEHOLDER.sub(lambda m: str(context.get(m.group(1).strip(), m.group(0))), template or "")


def build_message(group, items, contexts, rule, settings):
    """The message of one group: the rule's text for one item, or a numbered list (the first
    GROUP_LINES items, then how many more) linking to the list screen."""
    warning = defs.WARNINGS[group.level] if 0 <= group.level < len(defs.WARNINGS) else None
    tag = warning.tag_zh if warning is not None and rule.kind in ESCALATING_KINDS else ""
    lines = []
    for target_type, target_id in items:
        context = contexts.get((target_type, target_id))
        lines.append(render(rule.template, context) if context else f"{target_type} #{target_id}")
    target_type = items[0][0] if items else KIND_TARGETS[rule.kind]
    if group.n == 1 and items:
        title, body = f"{tag}{rule.name}", lines[0]
        link = SHOW_URLS[target_type].format(id=items[0][1])
    else:
        title = f"{tag}{rule.name}（共{group.n}项）"
        body = "\n".join(f"{n}. {line}" for n, line in enumerate(lines, start=1))
        if group.n > len(lines):
            body += f"\n……另有{group.n - len(lines)}项，请登录系统查看。"
        link = LIST_URLS[target_type]
    if group.channel != "inapp":
        link = settings["base_url"] + link
    user = group.recipient_type == "user"
    return channel_mod.Message(
        channel=group.channel, recipient_type=group.recipient_type, recipient_id=group.recipient_id,
        address=group.email if user else group.phone, recipient_name=(group.user_name if user else group.member_name)
        or "", title=title, body=body, link=link, level=group.level, rule_id=group.rule_id, rule_code=rule.code,
        items=[{"target_type": t, "target_id": i, "text": line} for (t, i), line in zip(items, lines)],
        total=group.n)


def _cn_date(value):
    if value is None:
        return ""
    return f"{value.year}年{value.month}月{value.day}日" + (
        f" {value:%H:%M}" if isinstance(value, datetime) else "")


def _number(value):
    value = float(value or 0)
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def load_contexts(shown, moment):
    """{(target_type, id): template fields} of the items shown, one query per target type (and
    per 5,000 ids). A target that no longer exists is simply missing."""
    wanted = {}
    for items in shown.values():
        for target_type, target_id in items:
            wanted.setdefault(target_type, set()).add(target_id)
    contexts = {}
    for target_type, ids in wanted.items():
        ids = sorted(ids)
        for start in range(0, len(ids), 5000):
            found = CONTEXT_LOADERS[target_type](ids[start:start + 5000], moment)
            contexts.update({(target_type, key): value for key, value in found.items()})
    return contexts


def _resolution_contexts(ids, moment):
    from models import Area, Meeting, Resolution, Unit

    rows = db.session.execute(
        select(Resolution.id, Resolution.title, Resolution.deadline, Resolution.lead_person, Resolution.status,
               Unit.name.label("lead_unit"), Meeting.title.label("meeting"), Area.name.label("area"))
        .join(Meeting, Meeting.id == Resolution.meeting_id).join(Area, Area.id == Resolution.area_id)
        .outerjoin(Unit, Unit.id == Resolution.lead_unit_id).where(Resolution.id.in_(ids))).all()
    result = {}
    for r in rows:
        late = (moment.today - r.deadline).days
        colour = defs.warning_colour(r.deadline, r.status, moment.today)
        result[r.id] = {
            "title": r.title, "deadline": _cn_date(r.deadline), "lead_person": r.lead_person or "",
            "lead_unit": r.lead_unit or "", "meeting": r.meeting, "area": r.area, "days_left": max(0, -late),
            "days_overdue": late if defs.is_overdue(r.deadline, r.status, moment.today) else 0,
            "colour": defs.WARNING_BY_COLOUR[colour].name_zh if colour else ""}
    return result


def _meeting_contexts(ids, moment):
    from models import Area, Meeting

    rows = db.session.execute(
        select(Meeting.id, Meeting.title, Meeting.held_at, Meeting.place, Meeting.convener, Meeting.note_taker,
               Area.name.label("area")).join(Area, Area.id == Meeting.area_id).where(Meeting.id.in_(ids))).all()
    return {r.id: {"title": r.title, "held_at": _cn_date(r.held_at), "place": r.place or "",
                   "convener": r.convener or "", "note_taker": r.note_taker or "", "area": r.area,
                   "days_left": max(0, (r.held_at.date() - moment.today).days),
                   "days_since": max(0, (moment.today - r.held_at.date()).days)} for r in rows}


def _member_contexts(ids, moment):
    from models import Area, MemberCheckin, PartyMember

    quota = quarter_quota(moment)
    totals = service_totals(moment, ids)
    valid_until = select(func.max(MemberCheckin.valid_until)).where(
        MemberCheckin.member_id == PartyMember.id).scalar_subquery()
    rows = db.session.execute(
        select(PartyMember.id, PartyMember.name, Area.name.label("area"), valid_until.label("valid_until"),
               totals.c.activities, totals.c.hours, totals.c.points)
        .join(Area, Area.id == PartyMember.area_id).outerjoin(totals, totals.c.member_id == PartyMember.id)
        .where(PartyMember.id.in_(ids))).all()
    return {r.id: {"name": r.name, "area": r.area, "quarter": moment.quarter,
                   "quarter_end": _cn_date(moment.quarter_end), "valid_until": _cn_date(r.valid_until),
                   "activities": r.activities or 0, "hours": _number(r.hours), "points": _number(r.points),
                   "min_activities": quota.min_activities if quota else "",
                   "min_hours": defs.number(quota.min_hours) if quota else "",
                   "min_points": defs.number(quota.min_points) if quota else ""} for r in rows}


def _agreement_contexts(ids, moment):
    from models import Agreement, Area, Unit, UnitCheckin

    rows = db.session.execute(
        select(Agreement.id, Agreement.title, Agreement.liaison, Agreement.ends_on, Unit.name.label("unit"),
               Area.name.label("area"))
        .join(UnitCheckin, UnitCheckin.id == Agreement.checkin_id).join(Unit, Unit.id == UnitCheckin.unit_id)
        .join(Area, Area.id == Agreement.area_id).where(Agreement.id.in_(ids))).all()
    return {r.id: {"title": r.title, "unit": r.unit, "liaison": r.liaison or "", "ends_on": _cn_date(r.ends_on),
                   "days_left": max(0, (r.ends_on - moment.today).days), "area": r.area} for r in rows}


def _checkin_contexts(ids, moment):
    from models import Area, Unit, UnitCheckin

    rows = db.session.execute(
        select(UnitCheckin.id, Unit.name.label("unit"), Area.name.label("area"))
        .join(Unit, Unit.id == UnitCheckin.unit_id).join(Area, Area.id == UnitCheckin.area_id)
        .where(UnitCheckin.id.in_(ids))).all()
    return {r.id: {"unit": r.unit, "area": r.area, "quarter": moment.quarter,
                   "quarter_end": _cn_date(moment.quarter_end)} for r in rows}


def _digest_contexts(ids, moment):
    """Each admin's figures, counted for their scope exactly as their home page counts them
    (app/stats.py): one set of queries per distinct scope, a few hundred a month at most."""
    from flask_appbuilder.security.sqla.models import User

    from models import Agreement, Area

    admins = reach().where(User.id.in_(ids)).subquery()
    users = db.session.execute(select(admins.c.user_id, admins.c.scope_path, admins.c.scope_area_id)).all()
    names = dict(db.session.execute(select(Area.id, Area.name).where(
        Area.id.in_({area_id for _u, _p, area_id in users if area_id is not None}))).all())
    by_scope, result = {}, {}
    for user_id, scope_path, scope_area_id in users:
        if user_id in result:
            continue
        if scope_path not in by_scope:
            scope = UNRESTRICTED if scope_path is None else Scope(area_path=scope_path)
            expiring = and_(Agreement.ends_on >= moment.today, Agreement.ends_on <= moment.today + timedelta(days=30))
            by_scope[scope_path] = (stats.scope_counts(scope, moment.today), stats.quarter_figures(scope, moment.today),
                                    stats.count(Agreement, scope, expiring))
        counts, quarter, expiring_count = by_scope[scope_path]
        result[user_id] = {
            "area": names.get(scope_area_id, "全区"), "month": f"{moment.today.year}年{moment.today.month}月",
            "members": quarter["members"], "checked_in": quarter["members_checked_in"],
            "checkin_rate": _percent(quarter["member_rate"]), "service_rate": _percent(quarter["completion_rate"]),
            "overdue": counts["overdue_resolutions"], "open_resolutions": counts["open_resolutions"],
            "expiring": expiring_count}
    return result


def _percent(share):
    return "—" if share is None else f"{100.0 * share:.1f}%"


CONTEXT_LOADERS = {"resolution": _resolution_contexts, "meeting": _meeting_contexts,
                   "party_member": _member_contexts, "agreement": _agreement_contexts,
                   "unit_checkin": _checkin_contexts, "ab_user": _digest_contexts}


# ------------------------------------------------------------------------------------------------
# The scan
# ------------------------------------------------------------------------------------------------


def run_scan(now=None, clock=None, send=True):
    """Claim every enabled rule's reminders due at ``now`` (naive UTC; default: now), then send
    what is due by the wall ``clock``. Returns a ScanReport (claimed, sent, failed per rule)."""
    from models import ReminderRule
    from models.base import utcnow

    now = now or utcnow()
    moment = Moment(now)
    report = ScanReport()
    enabled = channel_mod.enabled_channels(current_app.config)
    rules = db.session.execute(select(ReminderRule).where(ReminderRule.enabled.is_(True))
                               .order_by(ReminderRule.id)).scalars().all()
    plain = [(rule.id, rule.code, rule.name) for rule in rules]
    for rule, (_id, code, name) in zip(rules, plain):
        report.count(code, name).claimed += claim(rule, moment, enabled)
    if send:
        send_due(clock or utcnow(), report)
    return report


# ------------------------------------------------------------------------------------------------
# Rule validation (the same messages on the rule screen and in the API)
# ------------------------------------------------------------------------------------------------

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,49}$")


@record_rule("reminder_rule")
def _valid_rule(rec, pk):
    from models import CHANNELS, REMINDER_KINDS
    from models.reminder import split_codes

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
    allowed = allowed_recipients(kind)
    for column in ("recipients", "escalation_recipients"):
        codes = split_codes(_codes_text(getattr(rec, column, None)))
        if column == "recipients" and not codes:
            yield column, _l("Choose at least one recipient")
        bad = [code for code in codes if code not in allowed]
        if bad:
            yield column, _l("Not a recipient of this kind of rule: %(codes)s", codes=", ".join(bad))
    channels = split_codes(_codes_text(rec.channels))
    if not channels:
        yield "channels", _l("Choose at least one channel")
    bad = [code for code in channels if code not in CHANNELS]
    if bad:
        yield "channels", _l("Unknown channel: %(codes)s", codes=", ".join(bad))
    yield from _valid_template(kind, rec.template)


def _codes_text(value):
    """The screen's multi-select gives a list; the API and the model a comma-separated string."""
    return ",".join(value) if isinstance(value, (list, tuple)) else (value or "")


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
    from models import ReminderRule

    existing = set(db.session.execute(select(ReminderRule.code)).scalars())
    for values in SHIPPED_RULES:
        if values["code"] not in existing:
            db.session.add(ReminderRule(enabled=True, **values))
