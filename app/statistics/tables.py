"""The rows of each statistics report table, from the counts of app/statistics/counts.py: check-in
and service completion by area and by unit (with the units below the threshold), resolution
closure by area and by meeting, and the evaluation grades. Each function takes a
``ReportContext`` and returns the rows as dicts keyed by the report's columns (plus ``_level``
and ids the screen and the workbook use); app/statistics/catalogue.py names them.

* A unit's member check-in rate over the whole district is measured against its declared number
  of members (``Unit.member_count``, or the members on record if more), in a narrower view
  against its members on record there (``unit_rates``).
* Closure figures count the resolutions of the meetings held in the period: closed by its end,
  overdue on its end (or today, for a period not over yet).
* A row is flagged when a check-in rate is under the threshold (the Setting
  ``checkin_rate_threshold``, see app/statistics/context.py).
"""
from flask_babel import gettext as _
from sqlalchemy import case, func, select

from app.extensions import db
from app.statistics import definitions as defs
from app.statistics.context import scoped
from app.statistics.counts import Buckets, area_tree, member_counts, resolution_counts, unit_counts
from app.statistics.definitions import evaluation_periods, rate
from models import (
    AREA_LEVELS,
    UNIT_TYPES,
    Area,
    Evaluation,
    GradeOption,
    Meeting,
    MeetingType,
    PartyMember,
    Resolution,
    Unit,
    UnitCheckin,
)


def _rank(rows, *keys):
    """Competition ranking (1, 2, 2, 4) by the keys, best (highest) first; rows whose first
    key is None (nothing to measure) get no rank."""
    def value(row):
        return tuple(round(row[k], 6) if row[k] is not None else -1.0 for k in keys)

    ranked = sorted((r for r in rows if r[keys[0]] is not None), key=value, reverse=True)
    previous, position = None, 0
    for index, row in enumerate(ranked, start=1):
        if value(row) != previous:
            position, previous = index, value(row)
        row["rank"] = position
    for row in rows:
        row.setdefault("rank", None)


def _below(ctx, value):
    return value is not None and value * 100 < ctx.threshold - 1e-9


def _checkin_row(ctx, counts, level):
    units, members = counts.get("units", 0), counts.get("members", 0)
    checked = counts.get("checked_in", 0)
    row = {
        "units": units, "units_checked_in": counts.get("units_checked_in", 0),
        "unit_rate": rate(counts.get("units_checked_in", 0), units),
        "members": members, "members_checked_in": checked, "member_rate": rate(checked, members),
        "members_met_quota": counts.get("met_quota", 0) if ctx.quota else None,
        "completion_rate": defs.completion_rate(counts.get("met_quota", 0), checked) if ctx.quota else None,
        "_level": level,
    }
    row["flagged"] = _below(ctx, row["member_rate"]) or _below(ctx, row["unit_rate"])
    return row


def area_rates(ctx):
    """Check-in rate of units and members and service completion rate per street and community
    of the view, then the total. Units count where they are located, members where they live.
    unit_rate = units checked in / units located there; member_rate = members checked in /
    members on record; completion_rate = checked-in members who met the quota / checked-in
    members. A row is flagged when either check-in rate is under the threshold; streets are
    ranked among streets and communities among communities (by member rate, then unit rate)."""
    nodes, everyone = area_tree(ctx)
    buckets = Buckets(nodes)
    for area_id, counts in unit_counts(ctx).items():
        buckets.add(area_id, **counts)
    for area_id, counts in member_counts(ctx, PartyMember.area_id).items():
        buckets.add(area_id, **counts)
    streets, communities = _levels_in_view(nodes)
    street_rows, community_rows = [], []
    for street_id in streets:
        row = _checkin_row(ctx, buckets.get("street", street_id), "street")
        street_rows.append({"level": str(AREA_LEVELS.label("street")), "street": everyone[street_id].name,
                            "community": "", "_street": street_id, **row})
    for community_id in communities:
        node = everyone[community_id]
        row = _checkin_row(ctx, buckets.get("community", community_id), "community")
        community_rows.append({"level": str(AREA_LEVELS.label("community")),
                               "street": everyone[node.street_id].name if node.street_id else "",
                               "community": node.name, "_street": node.street_id, **row})
    _rank(street_rows, "member_rate", "unit_rate")
    _rank(community_rows, "member_rate", "unit_rate")
    total = {"level": _("Total"), "street": "", "community": "", "rank": None,
             **_checkin_row(ctx, buckets.get("total"), "total")}
    return _street_order(street_rows, community_rows) + [total]


def _levels_in_view(nodes):
    """Ids of the streets and communities inside the view, in code order. A street above the
    view (a community admin's) gets no row: its figures would be only the community's."""
    streets = sorted((n for n in nodes.values() if n.level == "street"), key=lambda n: n.code)
    communities = sorted((n for n in nodes.values() if n.level == "community"), key=lambda n: n.code)
    return [n.id for n in streets], [n.id for n in communities]


def _street_order(street_rows, child_rows):
    """Each street's row followed by its communities' rows (communities without a street last)."""
    rows = []
    for street in street_rows:
        rows.append(street)
        rows += [c for c in child_rows if c["_street"] == street["_street"]]
    rows += [c for c in child_rows if c["_street"] not in {s["_street"] for s in street_rows}]
    return rows


def unit_rates(ctx):
    """Per employer unit in the view (located there or checked in to a community there):
    whether the unit itself is checked in (and to which communities), and its members' figures.

    member_rate = members checked in / expected members. Over the whole district, expected is the
    unit's declared number of in-service Party members (``Unit.member_count``), or the members on
    record if more are on record: members who never came to any community count as not checked
    in. In a narrower view (a street, a community, a community admin's report) the declared count,
    which is the whole unit's, cannot be split by area, so expected is the unit's members on record
    in the view (those living there). completion_rate = checked-in members who met the quota /
    checked-in members. A unit is flagged when its member rate is under the
    threshold; units are ranked by member rate, then completion rate (highest first)."""
    nodes, everyone = area_tree(ctx)
    units = db.session.execute(scoped(select(Unit.id, Unit.name, Unit.unit_type, Unit.area_id, Unit.member_count)
                                       .order_by(Unit.name), Unit, ctx)).all()
    counts = member_counts(ctx, PartyMember.employer_id)
    # The declared count is the whole unit's: only a report over the whole district compares with it.
    whole = ctx.scope.unrestricted and ctx.area_path is None
    checked_to = {}
    pairs = (select(UnitCheckin.unit_id, Area.name).join(Area, Area.id == UnitCheckin.area_id)
             .where(defs.unit_checkin_counts_sql(ctx.end)).order_by(Area.code))
    for unit_id, name in db.session.execute(scoped(pairs, UnitCheckin, ctx)):
        checked_to.setdefault(unit_id, []).append(name)
    rows = []
    for unit in units:
        c = counts.get(unit.id, {})
        expected = max(unit.member_count or 0, c.get("members", 0)) if whole else c.get("members", 0)
        located = everyone.get(nodes[unit.area_id].community_id) if unit.area_id in nodes else None
        row = {
            "unit": unit.name, "unit_type": str(UNIT_TYPES.label(unit.unit_type)),
            "community": located.name if located else "",
            "checked_in_to": "、".join(checked_to.get(unit.id, [])),
            "declared_members": unit.member_count or 0, "members": c.get("members", 0),
            "members_checked_in": c.get("checked_in", 0), "member_rate": rate(c.get("checked_in", 0), expected),
            "members_met_quota": c.get("met_quota", 0) if ctx.quota else None,
            "completion_rate": (defs.completion_rate(c.get("met_quota", 0), c.get("checked_in", 0))
                                if ctx.quota else None),
            "_unit_id": unit.id,
        }
        row["flagged"] = _below(ctx, row["member_rate"])
        rows.append(row)
    _rank(rows, "member_rate", "completion_rate")
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["unit"]))
    return rows


def flagged_units(ctx):
    """The units of ``unit_rates`` under the threshold, in ranking order (lowest rates last):
    the list the organisation department holds talks (约谈) with."""
    return [row for row in unit_rates(ctx) if row["flagged"]]


def _closure_row(counts):
    total = counts.get("resolutions", 0)
    return {"resolutions": total, "closed": counts.get("closed", 0),
            "closure_rate": defs.closure_rate(counts.get("closed", 0), total), "overdue": counts.get("overdue", 0)}


def closure_areas(ctx):
    """Resolution closure rate (办结率) and overdue count per street and community, then the total,
    over the resolutions of meetings held in the period (see ``resolution_counts``):
    closure_rate = closed by the period's end / resolutions; streets and communities are ranked
    by closure rate among their level."""
    nodes, everyone = area_tree(ctx)
    buckets = Buckets(nodes)
    for area_id, counts in resolution_counts(ctx, Resolution.area_id).items():
        buckets.add(area_id, **counts)
    street_rows, community_rows = [], []
    streets, communities = _levels_in_view(nodes)
    for street_id in streets:
        street_rows.append({"level": str(AREA_LEVELS.label("street")), "street": everyone[street_id].name,
                            "community": "", "_street": street_id, "_level": "street",
                            **_closure_row(buckets.get("street", street_id))})
    for community_id in communities:
        node = everyone[community_id]
        community_rows.append({"level": str(AREA_LEVELS.label("community")), "community": node.name,
                               "street": everyone[node.street_id].name if node.street_id else "",
                               "_street": node.street_id, "_level": "community",
                               **_closure_row(buckets.get("community", community_id))})
    _rank(street_rows, "closure_rate")
    _rank(community_rows, "closure_rate")
    total = {"level": _("Total"), "street": "", "community": "", "rank": None, "_level": "total",
             **_closure_row(buckets.get("total"))}
    return _street_order(street_rows, community_rows) + [total]


def closure_meetings(ctx):
    """Per meeting held in the period that has resolutions: closure rate and overdue count
    (same definitions and the same query as ``closure_areas``), newest meeting first."""
    counts = resolution_counts(ctx, Meeting.id, Meeting.title, Meeting.held_at, Meeting.area_id, MeetingType.name)
    nodes, everyone = area_tree(ctx) if counts else ({}, {})
    rows = []
    for (meeting_id, title, held_at, area_id, type_name), figures in counts.items():
        node = nodes.get(area_id)
        community = everyone.get(node.community_id) if node and node.community_id else None
        street = everyone.get(node.street_id) if node and node.street_id else None
        rows.append({"held_on": held_at.date(), "meeting": title, "meeting_type": type_name,
                     "community": community.name if community else "", "street": street.name if street else "",
                     "_meeting_id": meeting_id, **_closure_row(figures)})
    rows.sort(key=lambda r: (r["held_on"], r["_meeting_id"]), reverse=True)
    return rows


def grade_summary(ctx):
    """Evaluations per grade of the scale (GradeOption, best first), for the evaluation periods
    lying inside the report's period (``evaluation_periods``: "2026" for a year, "2026Q3" for a
    quarter...): how many, their share of all evaluations, and how many feedback letters were
    sent or received. Inactive grades appear only when used. Then the total."""
    E, G = Evaluation, GradeOption
    labels = evaluation_periods(ctx.start, ctx.end)
    counts = {}
    if labels:
        sent = case((E.letter_state.in_(("sent", "received")), 1), else_=0)
        query = select(E.grade_id, func.count(E.id), func.sum(sent)).where(E.period.in_(labels)).group_by(E.grade_id)
        counts = {g: (n, int(s or 0)) for g, n, s in db.session.execute(scoped(query, E, ctx))}
    total = sum(n for n, _s in counts.values())
    rows = []
    for grade in db.session.execute(select(G).order_by(G.rank.desc(), G.id)).scalars():
        n, sent_letters = counts.get(grade.id, (0, 0))
        if grade.active or n:
            rows.append({"grade": grade.name, "evaluations": n, "share": rate(n, total), "letters_sent": sent_letters,
                         "_level": "grade"})
    rows.append({"grade": _("Total"), "evaluations": total, "share": 1.0 if total else None,
                 "letters_sent": sum(s for _n, s in counts.values()), "_level": "total"})
    return rows
