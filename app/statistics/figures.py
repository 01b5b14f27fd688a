"""Figures shown on the home page and dashboards (and in the monthly digest), always counted
through the scope and by the definitions of app/statistics/definitions.py (never by a stored
status or a count of rows); the quarter's rates are the total rows of the statistics reports."""
from sqlalchemy import func, select

from app.core.roles import holds
from app.core.scope import restrict, scope_for
from app.extensions import db
from app.statistics import definitions as defs
from app.statistics.context import make_context
from app.statistics.tables import area_rates, closure_areas
from models import Meeting, PartyMember, Resolution, Unit
from models.area import subtree_area_ids


def count(model, scope, *where):
    query = select(func.count()).select_from(model)
    for clause in where:
        query = query.where(clause)
    return db.session.execute(restrict(query, model, scope)).scalar_one()


def area_summary(user, today=None):
    """The user's area and its key counts (``scope_counts``) on ``today`` (default: the
    district's today)."""
    scope = scope_for(user)
    row = getattr(user, "scope", None)
    return {"area": row.area if row is not None else None, "unit": row.unit if row is not None else None,
            "unrestricted": scope.unrestricted, **scope_counts(scope, today or defs.today())}


def scope_counts(scope, day):
    """The key counts of a scope on ``day`` (the home page's, the monthly digest's):

    * units located in the area and, of them, units checked in for the quarter of ``day``;
      members on record (living in the area) and, of them, members checked in for the quarter —
      the same figures the quarter's rates divide (``quarter_figures``); a member with several
      check-ins counts once;
    * meetings; resolutions still open (not closed) and, of them, those overdue on ``day`` — by
      the deadline, whatever status is stored."""
    start, end = defs.quarter_bounds(day)
    # Units count where they are located, as in the reports (the scope also lets a community see
    # the units located elsewhere that checked in to it).
    located = [Unit.area_id.in_(subtree_area_ids(scope.area_path))] if scope.area_path is not None else []
    units_in = defs.unit_checked_in_sql(end)
    members_in = defs.member_checked_in_sql(start, end)
    return {
        "start": start,
        "end": end,
        "units": count(Unit, scope, *located),
        "units_checked_in": count(Unit, scope, *located, units_in),
        "members": count(PartyMember, scope),
        "members_checked_in": count(PartyMember, scope, members_in),
        "meetings": count(Meeting, scope),
        "open_resolutions": count(Resolution, scope, defs.open_sql(Resolution)),
        "overdue_resolutions": count(Resolution, scope, defs.overdue_sql(Resolution, day)),
    }


def quarter_figures(scope, day):
    """The check-in and service completion figures of a scope for the quarter of ``day``: the
    total row of the statistics report ``area_rates`` (what the home page's rates show)."""
    return area_rates(make_context({}, scope=scope, today=day))[-1]


def quarter_rates(user, today=None):
    """The current quarter's check-in, service completion and closure rates of the user's area,
    from the statistics reports' own functions (``dashboard_figures``); None for roles without
    reports."""
    if not holds(user, "can_read", "Report"):
        return None
    return dashboard_figures(user, today=today)


def dashboard_figures(user, today=None):
    """The user's area's figures for the current quarter, from the same reports' total rows:
    member and unit check-in rates, service completion rate, closure rate and overdue count."""
    ctx = make_context({}, scope=scope_for(user), today=today)
    checkin = area_rates(ctx)[-1]
    closure = closure_areas(ctx)[-1]
    return {"start": ctx.start, "end": ctx.end, "threshold": ctx.threshold,
            "member_rate": checkin["member_rate"], "unit_rate": checkin["unit_rate"],
            "completion_rate": checkin["completion_rate"], "closure_rate": closure["closure_rate"],
            "overdue": closure["overdue"],
            # the numerators and denominators, so the page shows what each rate divides
            "parts": {"member_rate": (checkin["members_checked_in"], checkin["members"]),
                      "unit_rate": (checkin["units_checked_in"], checkin["units"]),
                      "completion_rate": (checkin["members_met_quota"], checkin["members_checked_in"]),
                      "closure_rate": (closure["closed"], closure["resolutions"])}}
