"""Figures shown on the home page and dashboards, always counted through the scope."""
from sqlalchemy import func, select

from app.extensions import db
from app.scope import restrict, scope_for


def count(model, scope, *where):
    query = select(func.count()).select_from(model)
    for clause in where:
        query = query.where(clause)
    return db.session.execute(restrict(query, model, scope)).scalar_one()


def area_summary(user):
    """The user's area and its key counts: units, members checked in, open resolutions…"""
    from models import MemberCheckin, Meeting, PartyMember, Resolution, Unit, UnitCheckin

    scope = scope_for(user)
    row = getattr(user, "scope", None)
    return {
        "area": row.area if row is not None else None,
        "unit": row.unit if row is not None else None,
        "unrestricted": scope.unrestricted,
        "units": count(Unit, scope),
        "unit_checkins_confirmed": count(UnitCheckin, scope, UnitCheckin.status == "confirmed"),
        "members": count(PartyMember, scope),
        "members_checked_in": count(MemberCheckin, scope, MemberCheckin.status == "confirmed"),
        "meetings": count(Meeting, scope),
        "open_resolutions": count(Resolution, scope, Resolution.status.in_(("open", "in_progress", "overdue"))),
        "overdue_resolutions": count(Resolution, scope, Resolution.status == "overdue"),
    }


def quarter_rates(user):
    """The current quarter's check-in, service completion and closure rates of the user's area,
    from the statistics reports' own functions (app/reports.py); None for roles without reports."""
    from app import reports
    from app.roles import holds

    if not holds(user, "can_read", "Report"):
        return None
    return reports.dashboard_figures(user)
