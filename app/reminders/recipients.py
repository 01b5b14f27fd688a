"""Who receives a reminder: each recipient code of a rule is a SELECT over the targets ``t``
(target_id, area_id, occasion, level) adding (recipient_type, recipient_id).

Accounts are reached the way app.core.scope sees them: an administrator is only told about records
inside their area, a unit liaison about their unit's records (within their area when their scope
names one). Members are reached directly (the member themselves, the party members of an area).
"""
from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role
from sqlalchemy import and_, func, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from app.core.scope import GLOBAL_ROLES
from app.reminders.rules import ADMIN_CODES, KIND_TARGETS, allowed_recipients
from app.statistics import definitions as defs
from models import Agreement, Area, Meeting, PartyMember, Resolution, UnitCheckin, UserScope
from models.meeting import meeting_unit, resolution_co_unit


def reach():
    """Accounts that may be told about area records, as app.core.scope sees them: (user_id, role,
    scope_area_id, scope_path) with scope_path NULL for district-wide roles without a scope row.
    Accounts scoped to a unit are reached through their unit only (``_liaisons``)."""
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
    area = aliased(Area, name="target_area")
    return area, (area.id == t.c.area_id)


def area_reach():
    """(area_id, user_id, role): every area each account may be told about — computed once per
    claim over the few hundred accounts and the areas, so targets join it on ``area_id`` (an
    equi-join) instead of matching path prefixes row by row."""
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
    t = src.t
    joins = [(Meeting, Meeting.id == t.c.target_id)]
    found = _named(src, joins, Meeting.note_taker)
    matched = found.subquery("matched")
    nobody = ~select(matched.c.target_id).where(matched.c.target_id == t.c.target_id).exists()
    return [found, _admins(src, "CommunityAdmin").where(nobody)]


def _resolution_owners(src, code):
    t = src.t
    joins = [(Resolution, Resolution.id == t.c.target_id)]
    if code == "lead_owner":
        return [_liaisons(src, joins, Resolution.lead_unit_id), _named(src, joins, Resolution.lead_person)]
    co = [(resolution_co_unit, resolution_co_unit.c.resolution_id == t.c.target_id)]
    return [_liaisons(src, co, resolution_co_unit.c.unit_id),
            _named(src, joins, func.coalesce(Resolution.co_owners, ""), contains=True)]


def _meeting_people(src, code):
    t = src.t
    units = [(meeting_unit, meeting_unit.c.meeting_id == t.c.target_id)]
    if code == "attending_units":
        return [_liaisons(src, units, meeting_unit.c.unit_id)]
    joins = [(Meeting, Meeting.id == t.c.target_id)]
    people = (func.coalesce(Meeting.attendees, "") + "，" + Meeting.convener + "，"
              + func.coalesce(Meeting.note_taker, ""))
    return [_liaisons(src, units, meeting_unit.c.unit_id), _named(src, joins, people, contains=True)]


def _area_members(src):
    """The party members living in the target's area (or below it) checked in for the quarter."""
    t, m = src.t, src.moment
    area, on_area = _target_area(t)
    home = aliased(Area, name="home")
    return [select(*_row(t, "member", PartyMember.id)).select_from(t).join(area, on_area)
            .join(home, home.path.startswith(area.path)).join(PartyMember, PartyMember.area_id == home.id)
            .where(defs.member_checked_in_sql(m.quarter_start, m.quarter_end))]


def _unit_liaison(src, target):
    t = src.t
    if target == "agreement":
        joins = [(Agreement, Agreement.id == t.c.target_id), (UnitCheckin, UnitCheckin.id == Agreement.checkin_id)]
    else:
        joins = [(UnitCheckin, UnitCheckin.id == t.c.target_id)]
    return [_liaisons(src, joins, UnitCheckin.unit_id)]


def _recipient_selects(kind, code, src):
    """The SELECTs (to be UNIONed) of one recipient code for the targets ``src.t``."""
    t = src.t
    target = KIND_TARGETS[kind]
    if code in ADMIN_CODES:
        if target == "ab_user":  # the digest goes to the admin it is about
            return [select(*_row(t, "user", t.c.target_id))]
        return [_admins(src, ADMIN_CODES[code])]
    if code in ("lead_owner", "co_owners"):
        return _resolution_owners(src, code)
    if code in ("attending_units", "attendees"):
        return _meeting_people(src, code)
    if code == "area_members":
        return _area_members(src)
    if code == "note_taker":
        return _note_taker(src)
    if code == "member":
        return [select(*_row(t, "member", t.c.target_id))]
    if code == "unit_liaison":
        return _unit_liaison(src, target)
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
