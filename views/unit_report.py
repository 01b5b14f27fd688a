"""Screens and API of units' quarterly co-building reports (单位季度共建情况报告).

The unit is never entered: it follows the chosen check-in (models/unit_report.py), so a liaison
picks one of their unit's check-ins and the report is theirs. A second report for the same
check-in and quarter is refused by the record rule, or, when written meanwhile by someone else,
by the unique key (app/core/duplicates.py UNIQUE_KEY_MESSAGES): both answer on the quarter.
"""
from flask_babel import lazy_gettext as _l

from models import UnitReport
from views.api_base import GongjianApi
from views.base import COMMUNITY_SEARCH, GongjianModelView

REPORT_COLUMNS = ["checkin", "quarter", "submitted_on", "summary", "activities", "members_served",
                  "people_served", "problems", "next_plan", "submitted_by"]
# "Summary" is the audit log's word; on a report it is the work done.
REPORT_LABELS = {"summary": _l("Work done")}


class UnitReportView(GongjianModelView):
    model = UnitReport
    label_columns = REPORT_LABELS
    list_columns = ["quarter", "unit", "community", "area", "submitted_on", "activities", "submitted_by"]
    search_columns = ["quarter", "unit", "community", "submitted_on"]
    search_form_query_rel_fields = COMMUNITY_SEARCH
    show_columns = ["unit", "area"] + REPORT_COLUMNS + ["file"]
    add_columns = REPORT_COLUMNS + ["file"]
    edit_columns = add_columns
    base_order = ("submitted_on", "desc")


class UnitReportApi(GongjianApi):
    model = UnitReport
    resource_name = "unit_report"
    label_columns = REPORT_LABELS
    list_columns = ["id", "checkin_id", "unit_id", "unit.name", "area_id", "area.name", "community_id", "quarter",
                    "submitted_on", "activities", "members_served", "people_served", "submitted_by"]
    show_columns = ["id", "unit_id", "unit.name", "area_id", "area.name"] + REPORT_COLUMNS
    add_columns = REPORT_COLUMNS
    edit_columns = REPORT_COLUMNS
    search_columns = ["checkin", "unit", "area", "community", "quarter", "submitted_on"]
    order_columns = ["id", "quarter", "submitted_on"]
