"""The counts every statistics report is built from, each one set-based query (one GROUP BY,
grouped by area, unit or meeting) read through the report's scope (``context.scoped``), and the
area tree of the view they are rolled up over: to community, street and total, in Python (the
tree is small, thousands of nodes at most). No query runs per row.

The words (checked in, met the quota, closed, overdue) are those of app/statistics/definitions.py.
Beyond them, **members on record** are the in-service Party members the back-office holds (the
roster as it is now), counted where they live (street / community) or by employer (unit).
"""
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import and_, case, func, select

from app.extensions import db
from app.statistics import definitions as defs
from app.statistics.context import scoped
from models import Area, Meeting, MeetingType, PartyMember, Resolution, ServiceRecord, Unit

# ------------------------------------------------------------------------------------------------
# The area tree of the view: which street and community each area belongs to
# ------------------------------------------------------------------------------------------------


@dataclass
class AreaNode:
    id: int
    level: str
    name: str
    code: str
    path: str
    street_id: Optional[int] = None
    community_id: Optional[int] = None


def area_tree(ctx):
    """{area id: AreaNode} of every area in the view, each knowing its street and community.

    Ancestors above the view (a community admin's street) are loaded by code for their names."""
    columns = (Area.id, Area.level, Area.name, Area.code, Area.path)
    nodes = {r.id: AreaNode(*r) for r in db.session.execute(scoped(select(*columns), Area, ctx))}
    by_code = {n.code: n for n in nodes.values()}
    missing = {code for n in nodes.values() for code in n.path.strip("/").split("/")} - set(by_code)
    if missing:
        for r in db.session.execute(select(*columns).where(Area.code.in_(missing))):
            by_code[r.code] = AreaNode(*r)
    for node in nodes.values():
        for code in node.path.strip("/").split("/"):
            ancestor = by_code.get(code)
            if ancestor is not None and ancestor.level == "street":
                node.street_id = ancestor.id
            elif ancestor is not None and ancestor.level == "community":
                node.community_id = ancestor.id
    return nodes, {n.id: n for n in by_code.values()}


class Buckets:
    """Counts rolled up from areas to their community, their street and the total."""

    def __init__(self, tree):
        self.tree = tree
        self.values = {}

    def add(self, area_id, **counts):
        node = self.tree.get(area_id)
        if node is None:  # outside the view (a unit located elsewhere but checked in here)
            return
        for key in (("community", node.community_id), ("street", node.street_id), ("total", None)):
            if key[1] is None and key[0] != "total":
                continue
            bucket = self.values.setdefault(key, {})
            for name, value in counts.items():
                bucket[name] = bucket.get(name, 0) + (value or 0)

    def get(self, level, area_id=None):
        return self.values.get((level, area_id), {})


# ------------------------------------------------------------------------------------------------
# The counts
# ------------------------------------------------------------------------------------------------


def service_totals(ctx):
    """Subquery: per member, the service records in the view dated in the period
    (definitions.service_totals: member_id, activities, hours, points)."""
    return scoped(defs.service_totals(ctx.start, ctx.end), ServiceRecord, ctx).subquery()


def member_counts(ctx, group_by):
    """{group key: {"members", "checked_in", "met_quota"}} over members on record in the view.

    ``group_by`` is a PartyMember column (``area_id`` — where they live — or ``employer_id``).
    members: members on record; checked_in: of those, checked in for the period;
    met_quota: of the checked-in, those whose records in the period meet the quota (0 when no
    quota is configured, which the report then shows as not measurable)."""
    M = PartyMember
    svc = service_totals(ctx)
    is_in = defs.member_checked_in_sql(ctx.start, ctx.end, M)
    met = defs.meets_quota_sql(svc.c.activities, svc.c.hours, svc.c.points, ctx.quota)
    query = (select(group_by, func.count(M.id), func.sum(case((is_in, 1), else_=0)),
                    func.sum(case((and_(is_in, met), 1), else_=0)))
             .select_from(M).outerjoin(svc, svc.c.member_id == M.id).group_by(group_by))
    return {key: {"members": n, "checked_in": int(c or 0), "met_quota": int(q or 0)}
            for key, n, c, q in db.session.execute(scoped(query, M, ctx))}


def unit_counts(ctx):
    """{area id where the unit is located: {"units", "units_checked_in"}} for units in the view."""
    is_in = defs.unit_checked_in_sql(ctx.end, Unit)
    query = select(Unit.area_id, func.count(Unit.id), func.sum(case((is_in, 1), else_=0))).group_by(Unit.area_id)
    return {area_id: {"units": n, "units_checked_in": int(c or 0)}
            for area_id, n, c in db.session.execute(scoped(query, Unit, ctx))}


def resolution_counts(ctx, *group_by):
    """{group key: {"resolutions", "closed", "overdue"}} over the resolutions of meetings held in
    the period. closed: closed by the period's end; overdue: overdue on ``as_of`` (the period's
    end, or today if the period is not over) — both as app/statistics/definitions.py says.
    ``group_by``: ``Resolution.area_id`` (the meeting's area), or meeting columns (the key is then
    the tuple of their values; ``MeetingType`` is joined for its name)."""
    R = Resolution
    closed = defs.closed_sql(R, ctx.end)
    overdue = defs.overdue_sql(R, ctx.as_of)
    query = (select(*group_by, func.count(R.id), func.sum(case((closed, 1), else_=0)),
                    func.sum(case((overdue, 1), else_=0)))
             .join(Meeting, Meeting.id == R.meeting_id).join(MeetingType, MeetingType.id == Meeting.meeting_type_id)
             .where(Meeting.held_at >= datetime.combine(ctx.start, datetime.min.time()),
                    Meeting.held_at < ctx.end_exclusive)
             .group_by(*group_by))
    result = {}
    for row in db.session.execute(scoped(query, R, ctx)):
        key = row[0] if len(group_by) == 1 else tuple(row[:len(group_by)])
        n, c, o = row[len(group_by):]
        result[key] = {"resolutions": n, "closed": int(c or 0), "overdue": int(o or 0)}
    return result
