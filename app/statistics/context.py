"""The parameters of a statistics report (统计报表): a period (start and end dates, both included),
an area (one node, or the user's whole scope), the check-in threshold and the service quota of
the period, checked once and held as plain values in a ``ReportContext``.

Every query of a report goes through ``scoped``: app/core/scope.py's ``restrict`` with the acting
user's scope, and then once more with the chosen area's subtree, so a community admin's report
never counts a unit, member, service record or resolution of the next community.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Optional

from flask_babel import gettext as _
from sqlalchemy import select

from app.core.refusals import RecordInvalid
from app.core.scope import Scope, area_in_scope, current_scope, restrict
from app.extensions import db
from app.statistics import definitions as defs
from models import DEFAULT_SETTINGS, Area, Setting

DEFAULT_THRESHOLD = 95.0


class ReportParamError(RecordInvalid):
    """A report parameter is wrong; ``field`` names it (start, end, area_id, report)."""

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super().__init__({field: [message]})


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
    quota: Optional[defs.Quota] = None
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
    default_start, default_end = defs.quarter_bounds(today)
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
                         quota=defs.applicable_quota(start, end), today=today)


def _scope_area_name(scope):
    """The name of the user's own area (what "my whole area" means in titles), if any."""
    if scope.area_path is None:
        return None
    return db.session.execute(select(Area.name).where(Area.path == scope.area_path)).scalar()


def checkin_threshold():
    """The Setting ``checkin_rate_threshold`` in percent (95 unless an admin changed it)."""
    value = db.session.execute(select(Setting.value).where(Setting.key == "checkin_rate_threshold")).scalar()
    try:
        return float(value if value is not None else DEFAULT_SETTINGS["checkin_rate_threshold"][0])
    except ValueError:
        return DEFAULT_THRESHOLD


def scoped(query, model, ctx):
    """The user's scope, then the chosen area's subtree: the only way a report or a letter reads
    a table."""
    query = restrict(query, model, ctx.scope)
    if ctx.area_path is not None:
        query = restrict(query, model, Scope(area_path=ctx.area_path))
    return query
