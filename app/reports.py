"""Statistics reports (统计报表): the figures the organisation department publishes, for a period
(start and end dates, both included) and an area (one node, or the user's whole scope).

Each figure is computed by ONE function here, and the screen (views/report.py), its REST resource,
the formatted XLSX export (``write_report_xlsx``, run by the export job runner) and the home-page
dashboard (``dashboard_figures``) all call the same function through the ``REPORTS`` registry.

Every query goes through app/scope.py (``restrict``) with the acting user's scope, and then once
more with the chosen area's subtree, so a community admin's report never counts a unit, member,
service record or resolution of the next community (whether a counted member or unit is checked
in is answered alike in every view: see the definitions). Figures are counted with set-based SQL
(one GROUP BY per figure, grouped by area, unit or meeting) and rolled up to community, street
and total in Python over the area tree, which is small (thousands of nodes at most); no query
runs per row.

The words (checked in, met the quota, closed, overdue, the quota of a period, the quarter) are
defined once in app/statistics/definitions.py; this module counts with them. Beyond them:

* **Members on record** are the in-service Party members the back-office holds (the roster as it
  is now), counted where they live (street / community) or by employer (unit). A unit's member
  check-in rate over the whole district is measured against its declared number of members
  (``Unit.member_count``, or the members on record if more), in a narrower view against its
  members on record there (``unit_rates``).
* Closure figures count the resolutions of the meetings held in the period: closed by its end,
  overdue on its end (or today, for a period not over yet).
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Optional

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select

from app.extensions import db
from app.scope import Scope, area_in_scope, current_scope, restrict
from app.statistics import definitions as defs
from app.statistics.definitions import Quota, applicable_quota, evaluation_periods, quarter_bounds, rate

DEFAULT_THRESHOLD = 95.0


class ReportParamError(ValueError):
    """A report parameter is wrong; ``field`` names it (start, end, area_id, report)."""

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# ------------------------------------------------------------------------------------------------
# Parameters: period, area, threshold and quota
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportContext:
    """Everything a figure depends on, as plain values (safe across commits and in a worker)."""

    start: date
    end: date
    scope: Scope
    area_id: Optional[int] = None
    area_name: Optional[str] = None
    area_path: Optional[str] = None
    threshold: float = DEFAULT_THRESHOLD
    quota: Optional[Quota] = None
    today: date = field(default_factory=defs.today)  # the district's date

    @property
    def as_of(self):
        """The day overdue is judged on: the period's end, or today for a period not over yet."""
        return min(self.end, self.today)

    @property
    def end_exclusive(self):
        """The moment after the period's last day (local time, like ``Meeting.held_at``)."""
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time())

    def params(self):
        """The JSON-able parameters an export job stores."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "area_id": self.area_id}

    def area_label(self):
        return self.area_name or (_("the whole district") if self.scope.unrestricted else _("your area"))


def _parse_date(value, name):
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ReportParamError(name, _("Enter a date as YYYY-MM-DD")) from None


def _parse_area(value, scope):
    """The chosen area as (id, name, path); a missing or out-of-scope id gives the same refusal."""
    from models import Area

    if value in (None, "", "None"):
        return None
    try:
        area_id = int(value)
    except (TypeError, ValueError):
        raise ReportParamError("area_id", _("Choose an area from the list")) from None
    area = db.session.get(Area, area_id)
    if area is None or not area_in_scope(area, scope) or (scope.area_path is None and not scope.unrestricted):
        raise ReportParamError("area_id", _("There is no such area in your scope"))
    return area.id, area.name, area.path


def make_context(params=None, scope=None, today=None):
    """Check the raw parameters {"start", "end", "area_id"} (strings or values) and build the
    context; a missing period means the current quarter. Raises ``ReportParamError``."""
    params = params or {}
    scope = scope or current_scope()
    today = today or defs.today()
    default_start, default_end = quarter_bounds(today)
    start = _parse_date(params.get("start") or default_start, "start")
    end = _parse_date(params.get("end") or default_end, "end")
    if end < start:
        raise ReportParamError("end", _("The end date must not be before the start date"))
    if (end - start).days > 366 * 5:
        raise ReportParamError("end", _("A report covers at most five years"))
    area = _parse_area(params.get("area_id"), scope)
    area_id, area_name, area_path = area if area else (None, _scope_area_name(scope), None)
    return ReportContext(start=start, end=end, scope=scope, area_id=area_id, area_name=area_name,
                         area_path=area_path, threshold=checkin_threshold(),
                         quota=applicable_quota(start, end), today=today)


def _scope_area_name(scope):
    """The name of the user's own area (what "my whole area" means in titles), if any."""
    from models import Area

    if scope.area_path is None:
        return None
    return db.session.execute(select(Area.name).where(Area.path == scope.area_path)).scalar()


def checkin_threshold():
    """The Setting ``checkin_rate_threshold`` in percent (95 unless an admin changed it)."""
    from models import DEFAULT_SETTINGS, Setting

    value = db.session.execute(select(Setting.value).where(Setting.key == "checkin_rate_threshold")).scalar()
    try:
        return float(value if value is not None else DEFAULT_SETTINGS["checkin_rate_threshold"][0])
    except ValueError:
        return DEFAULT_THRESHOLD


def _scoped(query, model, ctx):
    """The user's scope, then the chosen area's subtree: the only way a report reads a table."""
    query = restrict(query, model, ctx.scope)
    if ctx.area_path is not None:
        query = restrict(query, model, Scope(area_path=ctx.area_path))
    return query


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
    from models import Area

    columns = (Area.id, Area.level, Area.name, Area.code, Area.path)
    nodes = {r.id: AreaNode(*r) for r in db.session.execute(_scoped(select(*columns), Area, ctx))}
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
# The figures
# ------------------------------------------------------------------------------------------------


def service_totals(ctx):
    """Subquery: per member, the service records in the view dated in the period
    (definitions.service_totals: member_id, activities, hours, points)."""
    from models import ServiceRecord

    return _scoped(defs.service_totals(ctx.start, ctx.end), ServiceRecord, ctx).subquery()


def member_counts(ctx, group_by):
    """{group key: {"members", "checked_in", "met_quota"}} over members on record in the view.

    ``group_by`` is a PartyMember column (``area_id`` — where they live — or ``employer_id``).
    members: members on record; checked_in: of those, checked in for the period;
    met_quota: of the checked-in, those whose records in the period meet the quota (0 when no
    quota is configured, which the report then shows as not measurable)."""
    from models import PartyMember as M

    svc = service_totals(ctx)
    is_in = defs.member_checked_in_sql(ctx.start, ctx.end, M)
    met = quota_met(svc, ctx.quota)
    query = (select(group_by, func.count(M.id), func.sum(case((is_in, 1), else_=0)),
                    func.sum(case((and_(is_in, met), 1), else_=0)))
             .select_from(M).outerjoin(svc, svc.c.member_id == M.id).group_by(group_by))
    return {key: {"members": n, "checked_in": int(c or 0), "met_quota": int(q or 0)}
            for key, n, c, q in db.session.execute(_scoped(query, M, ctx))}


def quota_met(svc, quota):
    """SQL condition: the member's period totals (``service_totals``) meet the quota."""
    return defs.meets_quota_sql(svc.c.activities, svc.c.hours, svc.c.points, quota)


def unit_counts(ctx):
    """{area id where the unit is located: {"units", "units_checked_in"}} for units in the view."""
    from models import Unit

    is_in = defs.unit_checked_in_sql(ctx.end, Unit)
    query = select(Unit.area_id, func.count(Unit.id), func.sum(case((is_in, 1), else_=0))).group_by(Unit.area_id)
    return {area_id: {"units": n, "units_checked_in": int(c or 0)}
            for area_id, n, c in db.session.execute(_scoped(query, Unit, ctx))}


def resolution_counts(ctx, *group_by):
    """{group key: {"resolutions", "closed", "overdue"}} over the resolutions of meetings held in
    the period. closed: closed by the period's end; overdue: overdue on ``as_of`` (the period's
    end, or today if the period is not over) — both as app/statistics/definitions.py says.
    ``group_by``: ``Resolution.area_id`` (the meeting's area), or meeting columns (the key is then
    the tuple of their values; ``MeetingType`` is joined for its name)."""
    from models import Meeting, MeetingType, Resolution as R

    closed = defs.closed_sql(R, ctx.end)
    overdue = defs.overdue_sql(R, ctx.as_of)
    query = (select(*group_by, func.count(R.id), func.sum(case((closed, 1), else_=0)),
                    func.sum(case((overdue, 1), else_=0)))
             .join(Meeting, Meeting.id == R.meeting_id).join(MeetingType, MeetingType.id == Meeting.meeting_type_id)
             .where(Meeting.held_at >= datetime.combine(ctx.start, datetime.min.time()),
                    Meeting.held_at < ctx.end_exclusive)
             .group_by(*group_by))
    result = {}
    for row in db.session.execute(_scoped(query, R, ctx)):
        key = row[0] if len(group_by) == 1 else tuple(row[:len(group_by)])
        n, c, o = row[len(group_by):]
        result[key] = {"resolutions": n, "closed": int(c or 0), "overdue": int(o or 0)}
    return result


# ------------------------------------------------------------------------------------------------
# Rows of each report
# ------------------------------------------------------------------------------------------------


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
    from models import AREA_LEVELS, PartyMember

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
    from models import UNIT_TYPES, PartyMember, Unit, UnitCheckin

    nodes, everyone = area_tree(ctx)
    units = db.session.execute(_scoped(select(Unit.id, Unit.name, Unit.unit_type, Unit.area_id, Unit.member_count)
                                       .order_by(Unit.name), Unit, ctx)).all()
    counts = member_counts(ctx, PartyMember.employer_id)
    # The declared count is the whole unit's: only a report over the whole district compares with it.
    whole = ctx.scope.unrestricted and ctx.area_path is None
    checked_to = {}
    from models import Area

    pairs = (select(UnitCheckin.unit_id, Area.name).join(Area, Area.id == UnitCheckin.area_id)
             .where(defs.unit_checkin_counts_sql(ctx.end)).order_by(Area.code))
    for unit_id, name in db.session.execute(_scoped(pairs, UnitCheckin, ctx)):
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
    from models import AREA_LEVELS, Resolution

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
    from models import Meeting, MeetingType

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
    from models import Evaluation as E, GradeOption as G

    labels = evaluation_periods(ctx.start, ctx.end)
    counts = {}
    if labels:
        sent = case((E.letter_state.in_(("sent", "received")), 1), else_=0)
        query = select(E.grade_id, func.count(E.id), func.sum(sent)).where(E.period.in_(labels)).group_by(E.grade_id)
        counts = {g: (n, int(s or 0)) for g, n, s in db.session.execute(_scoped(query, E, ctx))}
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


# ------------------------------------------------------------------------------------------------
# The registry: screen, XLSX and API iterate the same definitions
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    key: str
    label: object  # a lazy msgid
    kind: str = "text"  # text, int, percent, rank, flag, date


@dataclass(frozen=True)
class Report:
    name: str
    title: object
    sheet: object  # a short title for the XLSX sheet tab (≤ 31 characters)
    columns: tuple
    compute: Callable
    description: object = ""


LEVEL_COLS = (Col("level", _l("Level")), Col("street", _l("Street / town")), Col("community", _l("Community")))
CHECKIN_COLS = (
    Col("units", _l("Units located"), "int"), Col("units_checked_in", _l("Units checked in"), "int"),
    Col("unit_rate", _l("Unit check-in rate"), "percent"),
    Col("members", _l("Members on record"), "int"), Col("members_checked_in", _l("Members checked in"), "int"),
    Col("member_rate", _l("Member check-in rate"), "percent"),
    Col("members_met_quota", _l("Members who met the quota"), "int"),
    Col("completion_rate", _l("Service completion rate"), "percent"),
    Col("rank", _l("Rank"), "rank"), Col("flagged", _l("Below threshold"), "flag"),
)
UNIT_COLS = (
    Col("rank", _l("Rank"), "rank"), Col("unit", _l("Unit")), Col("unit_type", _l("Unit type")),
    Col("community", _l("Located in community")), Col("checked_in_to", _l("Checked in to")),
    Col("declared_members", _l("Declared Party members"), "int"), Col("members", _l("Members on record"), "int"),
    Col("members_checked_in", _l("Members checked in"), "int"),
    Col("member_rate", _l("Member check-in rate"), "percent"),
    Col("members_met_quota", _l("Members who met the quota"), "int"),
    Col("completion_rate", _l("Service completion rate"), "percent"),
    Col("flagged", _l("Below threshold"), "flag"),
)
CLOSURE_COLS = (
    Col("resolutions", _l("Resolutions"), "int"), Col("closed", _l("Closed (signed off)"), "int"),
    Col("closure_rate", _l("Closure rate"), "percent"), Col("overdue", _l("Overdue"), "int"),
)

REPORTS = {
    "area_rates": Report(
        "area_rates", _l("Check-in and service completion by street and community"), _l("By area"),
        LEVEL_COLS + CHECKIN_COLS, area_rates,
        _l("Units count where they are located, members where they live.")),
    "unit_rates": Report(
        "unit_rates", _l("Check-in and service completion by unit (ranking)"), _l("By unit"),
        UNIT_COLS, unit_rates,
        _l("Member check-in rate: members checked in / the unit's declared Party members (whole district) "
           "or its members on record in the chosen area.")),
    "flagged_units": Report(
        "flagged_units", _l("Units below the check-in threshold"), _l("Below threshold"),
        UNIT_COLS, flagged_units),
    "closure_areas": Report(
        "closure_areas", _l("Resolution closure by street and community"), _l("Closure by area"),
        LEVEL_COLS + CLOSURE_COLS + (Col("rank", _l("Rank"), "rank"),), closure_areas,
        _l("Resolutions of the meetings held in the period; closed means signed off by its end.")),
    "closure_meetings": Report(
        "closure_meetings", _l("Resolution closure by meeting"), _l("Closure by meeting"),
        (Col("held_on", _l("Held on"), "date"), Col("meeting", _l("Meeting")), Col("meeting_type", _l("Meeting type")),
         Col("street", _l("Street / town")), Col("community", _l("Community"))) + CLOSURE_COLS,
        closure_meetings),
    "grades": Report(
        "grades", _l("Evaluation summary by grade"), _l("Grades"),
        (Col("grade", _l("Grade")), Col("evaluations", _l("Evaluations"), "int"),
         Col("share", _l("Share"), "percent"), Col("letters_sent", _l("Feedback letters sent"), "int")),
        grade_summary,
        _l("Evaluations of the periods (years, quarters) lying inside the chosen dates.")),
}
ALL = "all"


def get_report(name):
    if name not in REPORTS:
        raise ReportParamError("report", _("There is no report named %(name)s", name=name))
    return REPORTS[name]


def report_title(name):
    """The (lazy) title of report ``name``, or of the all-in-one workbook for ``"all"``."""
    return _l("All statistics") if name == ALL else get_report(name).title


def compute(name, ctx):
    """The rows of report ``name`` for the context (the one call screen, API and XLSX make)."""
    return get_report(name).compute(ctx)


def public_rows(report, rows):
    """Rows as the API gives them: the report's columns only, rates rounded to 4 decimals."""
    result = []
    for row in rows:
        item = {}
        for col in report.columns:
            value = row.get(col.key)
            if col.kind == "percent" and value is not None:
                value = round(value, 4)
            elif col.kind == "date" and value is not None:
                value = value.isoformat()
            item[col.key] = value
        result.append(item)
    return result


def format_cell(col, value):
    """How the screen shows a value: percentages with two decimals, flags as a word."""
    if value is None:
        return "—" if col.kind in ("percent", "rank") else ""
    if col.kind == "percent":
        return f"{value * 100:.2f}%"
    if col.kind == "flag":
        return _("Below") if value else ""
    if col.kind == "date":
        return value.isoformat()
    return value


def subtitle(ctx):
    """The line under every report's title: period, area, threshold and the quota applied."""
    quota = ctx.quota.describe() if ctx.quota else _("No active service quota: completion is not measured")
    return _("Period %(start)s to %(end)s · Area: %(area)s · Threshold %(threshold)s%% · %(quota)s",
             start=ctx.start.isoformat(), end=ctx.end.isoformat(), area=ctx.area_label(),
             threshold=defs.number(ctx.threshold), quota=quota)


# ------------------------------------------------------------------------------------------------
# The home-page dashboard
# ------------------------------------------------------------------------------------------------


def dashboard_figures(user, today=None):
    """The user's area's figures for the current quarter, from the same reports' total rows:
    member and unit check-in rates, service completion rate, closure rate and overdue count."""
    from app.scope import scope_for

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


# ------------------------------------------------------------------------------------------------
# Formatted XLSX
# ------------------------------------------------------------------------------------------------


def _sheet_name(text, used):
    name = "".join("_" if ch in "[]:*?/\\" else ch for ch in str(text))[:31] or "Sheet"
    base, n = name, 2
    while name in used:
        name = f"{base[:28]}({n})"
        n += 1
    used.add(name)
    return name


class _Formats:
    def __init__(self, book):
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.subtitle = book.add_format({"italic": True, "font_color": "#555555"})
        self.header = book.add_format({"bold": True, "bg_color": "#C00000", "font_color": "#FFFFFF", "border": 1,
                                       "text_wrap": True, "valign": "vcenter", "align": "center"})
        self.cells = {}
        self.book = book

    def cell(self, kind, flagged=False, strong=False):
        key = (kind, flagged, strong)
        if key not in self.cells:
            spec = {"border": 1}
            if kind == "percent":
                spec["num_format"] = "0.00%"
            elif kind == "date":
                spec["num_format"] = "yyyy-mm-dd"
            elif kind in ("int", "rank"):
                spec["num_format"] = "0"
            if flagged:
                spec.update({"bg_color": "#FFC7CE", "font_color": "#9C0006"})
            if strong:
                spec.update({"bold": True, "bg_color": spec.get("bg_color", "#F2F2F2")})
            self.cells[key] = self.book.add_format(spec)
        return self.cells[key]


WIDTHS = {"text": 18, "int": 10, "percent": 11, "rank": 7, "flag": 10, "date": 12}
WIDE = {"unit": 30, "meeting": 40, "checked_in_to": 28, "community": 18, "street": 16}


def _write_sheet(book, formats, report, ctx, rows, sheet_names, progress_step):
    sheet = book.add_worksheet(_sheet_name(report.sheet, sheet_names))
    columns = report.columns
    sheet.merge_range(0, 0, 0, max(1, len(columns) - 1), str(report.title), formats.title)
    sheet.write(1, 0, subtitle(ctx), formats.subtitle)
    if report.description:
        sheet.write(2, 0, str(report.description), formats.subtitle)
    header_row = 3
    sheet.set_row(header_row, 32)
    for c, col in enumerate(columns):
        sheet.write(header_row, c, str(col.label), formats.header)
        sheet.set_column(c, c, max(WIDE.get(col.key, WIDTHS[col.kind]), len(str(col.label)) * 2 + 2))
    sheet.freeze_panes(header_row + 1, 0)
    for r, row in enumerate(rows, start=header_row + 1):
        flagged = bool(row.get("flagged"))
        strong = row.get("_level") in ("street", "total")
        for c, col in enumerate(columns):
            value = row.get(col.key)
            fmt = formats.cell(col.kind, flagged, strong)
            if value is None:
                sheet.write_blank(r, c, None, fmt)
            elif col.kind == "flag":
                sheet.write_string(r, c, _("Below") if value else "", fmt)
            elif col.kind == "date":
                sheet.write_datetime(r, c, datetime.combine(value, datetime.min.time()), fmt)
            elif col.kind in ("int", "rank", "percent"):
                sheet.write_number(r, c, value, fmt)
            else:
                sheet.write_string(r, c, str(value), fmt)  # text stays text (no formula, no number)
        progress_step()
    if rows:
        sheet.autofilter(header_row, 0, header_row + len(rows), len(columns) - 1)
    return len(rows)


def write_report_xlsx(name, params, path, progress=None, scope=None):
    """Write report ``name`` (or ``"all"``: one sheet per report) as a formatted XLSX at ``path``
    for ``params`` {"start", "end", "area_id"}, under the acting user's scope; calls
    ``progress(done, total)`` as rows are written. Returns the number of data rows written."""
    import xlsxwriter

    ctx = make_context(params, scope=scope)
    names = list(REPORTS) if name == ALL else [get_report(name).name]
    computed = [(REPORTS[n], compute(n, ctx)) for n in names]
    total = sum(len(rows) for _r, rows in computed)
    done = [0]

    def step():
        done[0] += 1
        if progress is not None and (done[0] % 200 == 0 or done[0] == total):
            progress(done[0], total)

    if progress is not None:
        progress(0, total)
    book = xlsxwriter.Workbook(path, {"strings_to_numbers": False, "strings_to_formulas": False,
                                      "strings_to_urls": False})
    try:
        formats, sheet_names = _Formats(book), set()
        written = sum(_write_sheet(book, formats, report, ctx, rows, sheet_names, step) for report, rows in computed)
    finally:
        book.close()
    return written


__all__ = ["REPORTS", "ReportParamError", "make_context", "compute", "write_report_xlsx", "dashboard_figures"]
