"""Screens and API of units' quarterly co-building reports (单位季度共建情况报告).

The unit is never entered: it follows the chosen check-in (models/unit_report.py), so a liaison
picks one of their unit's check-ins and the report is theirs.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from models import UnitReport
from views.base import COMMUNITY_SEARCH, GongjianApi, GongjianModelView

REPORT_COLUMNS = ["checkin", "quarter", "submitted_on", "summary", "activities", "members_served",
                  "people_served", "problems", "next_plan", "submitted_by"]
UNIQUE_CONSTRAINT = "uq_unit_report_checkin_quarter"
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

    def post_headless(self):
        return self._answer_duplicate(super().post_headless)

    def _answer_duplicate(self, call):
        """A report written by someone else between the record rule's check and the insert hits
        the unique key: answer it like the rule would, not with a 500 (FAB already turns a failed
        update into a 4xx)."""
        try:
            return call()
        except IntegrityError as exc:
            db.session.rollback()
            if UNIQUE_CONSTRAINT not in str(exc.orig) and "unit_report.checkin_id" not in str(exc.orig):
                raise
            return self.response_400(message={"quarter": [str(_l("This check-in already has a report for "
                                                                 "this quarter"))]})
