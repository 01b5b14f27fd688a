"""The fields a reminder's template can use ({title}, {deadline}, {days_overdue}…, listed per kind
of target in app/reminders/rules.py TEMPLATE_FIELDS), loaded for the items a message shows: one
query per target type (and per 5,000 ids). The figures quoted — overdue days, warning colour,
quarter, quota and service totals, the digest's rates — are the business definitions'.
"""
from datetime import datetime, timedelta

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import and_, func, select

from app.core.scope import UNRESTRICTED, Scope
from app.extensions import db
from app.reminders.recipients import reach
from app.statistics import definitions as defs
from app.statistics import figures as stats
from models import Agreement, Area, Meeting, MemberCheckin, PartyMember, Resolution, ServiceRecord, Unit, UnitCheckin

CHUNK = 5000


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
        for start in range(0, len(ids), CHUNK):
            found = CONTEXT_LOADERS[target_type](ids[start:start + CHUNK], moment)
            contexts.update({(target_type, key): value for key, value in found.items()})
    return contexts


def _cn_date(value):
    if value is None:
        return ""
    return f"{value.year}年{value.month}月{value.day}日" + (
        f" {value:%H:%M}" if isinstance(value, datetime) else "")


def _number(value):
    value = float(value or 0)
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _percent(share):
    return "—" if share is None else f"{100.0 * share:.1f}%"


def _resolution_contexts(ids, moment):
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
    rows = db.session.execute(
        select(Meeting.id, Meeting.title, Meeting.held_at, Meeting.place, Meeting.convener, Meeting.note_taker,
               Area.name.label("area")).join(Area, Area.id == Meeting.area_id).where(Meeting.id.in_(ids))).all()
    return {r.id: {"title": r.title, "held_at": _cn_date(r.held_at), "place": r.place or "",
                   "convener": r.convener or "", "note_taker": r.note_taker or "", "area": r.area,
                   "days_left": max(0, (r.held_at.date() - moment.today).days),
                   "days_since": max(0, (moment.today - r.held_at.date()).days)} for r in rows}


def _member_contexts(ids, moment):
    quota = defs.applicable_quota(moment.quarter_start, moment.quarter_end)
    totals = (defs.service_totals(moment.quarter_start, moment.quarter_end)
              .where(ServiceRecord.member_id.in_(ids)).subquery("totals"))
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
    rows = db.session.execute(
        select(Agreement.id, Agreement.title, Agreement.liaison, Agreement.ends_on, Unit.name.label("unit"),
               Area.name.label("area"))
        .join(UnitCheckin, UnitCheckin.id == Agreement.checkin_id).join(Unit, Unit.id == UnitCheckin.unit_id)
        .join(Area, Area.id == Agreement.area_id).where(Agreement.id.in_(ids))).all()
    return {r.id: {"title": r.title, "unit": r.unit, "liaison": r.liaison or "", "ends_on": _cn_date(r.ends_on),
                   "days_left": max(0, (r.ends_on - moment.today).days), "area": r.area} for r in rows}


def _checkin_contexts(ids, moment):
    rows = db.session.execute(
        select(UnitCheckin.id, Unit.name.label("unit"), Area.name.label("area"))
        .join(Unit, Unit.id == UnitCheckin.unit_id).join(Area, Area.id == UnitCheckin.area_id)
        .where(UnitCheckin.id.in_(ids))).all()
    return {r.id: {"unit": r.unit, "area": r.area, "quarter": moment.quarter,
                   "quarter_end": _cn_date(moment.quarter_end)} for r in rows}


def _scope_figures(scope_path, moment):
    """(home-page counts, quarter figures, agreements ending within 30 days) of one scope."""
    scope = UNRESTRICTED if scope_path is None else Scope(area_path=scope_path)
    expiring = and_(Agreement.ends_on >= moment.today, Agreement.ends_on <= moment.today + timedelta(days=30))
    return (stats.scope_counts(scope, moment.today), stats.quarter_figures(scope, moment.today),
            stats.count(Agreement, scope, expiring))


def _digest_contexts(ids, moment):
    """Each admin's figures, counted for their scope exactly as their home page counts them
    (app/statistics/figures.py): one set of queries per distinct scope, a few hundred a month at most."""
    admins = reach().where(User.id.in_(ids)).subquery()
    users = db.session.execute(select(admins.c.user_id, admins.c.scope_path, admins.c.scope_area_id)).all()
    names = dict(db.session.execute(select(Area.id, Area.name).where(
        Area.id.in_({area_id for _u, _p, area_id in users if area_id is not None}))).all())
    by_scope, result = {}, {}
    for user_id, scope_path, scope_area_id in users:
        if user_id in result:
            continue
        if scope_path not in by_scope:
            by_scope[scope_path] = _scope_figures(scope_path, moment)
        counts, quarter, expiring_count = by_scope[scope_path]
        result[user_id] = {
            "area": names.get(scope_area_id, "全区"), "month": f"{moment.today.year}年{moment.today.month}月",
            "members": quarter["members"], "checked_in": quarter["members_checked_in"],
            "checkin_rate": _percent(quarter["member_rate"]), "service_rate": _percent(quarter["completion_rate"]),
            "overdue": counts["overdue_resolutions"], "open_resolutions": counts["open_resolutions"],
            "expiring": expiring_count}
    return result


CONTEXT_LOADERS = {"resolution": _resolution_contexts, "meeting": _meeting_contexts,
                   "party_member": _member_contexts, "agreement": _agreement_contexts,
                   "unit_checkin": _checkin_contexts, "ab_user": _digest_contexts}
