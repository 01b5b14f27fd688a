"""The catalogue of statistics reports: each report's name, title, sheet tab, columns and the
function of app/statistics/tables.py that computes its rows. The screen (views/report.py), its
REST resource, the formatted workbook (app/statistics/workbook.py, run by the export job runner)
all iterate ``REPORTS`` and call ``compute``, so each figure is computed by one function.
"""
from dataclasses import dataclass
from typing import Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.statistics import definitions as defs
from app.statistics.context import ReportParamError
from app.statistics.tables import area_rates, closure_areas, closure_meetings, flagged_units, grade_summary, unit_rates


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
