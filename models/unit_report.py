"""A checked-in unit's quarterly co-building report (单位季度共建情况报告): every quarter the unit
tells the community what it did under the co-building agreement, for whom, what went wrong and
what comes next. One report per check-in and quarter; the reminder rule ``unit_report_missing``
(app/reminders/targets.py) chases the check-ins that have none for the current quarter.

The report sits where its check-in sits (app/core/area_tree.py AREA_SOURCES), and its unit is always the check-in's
unit: it is copied from the check-in whenever the check-in is set, so the liaison scope (by unit)
and the area scope (by the check-in's community) can never disagree about a report.
"""
from flask_appbuilder.filemanager import get_file_original_name
from flask_appbuilder.models.mixins import FileColumn
from sqlalchemy import Column, Date, ForeignKey, Integer, String, Text, UniqueConstraint, event, select
from sqlalchemy.orm import relationship, validates

from .base import AreaMixin, BusinessModel
from .checkin import UnitCheckin


class UnitReport(AreaMixin, BusinessModel):
    """One quarter's co-building report of a unit to the community it checked in to."""

    __tablename__ = "unit_report"
    __table_args__ = (UniqueConstraint("checkin_id", "quarter", name="uq_unit_report_checkin_quarter"),)

    checkin_id = Column(Integer, ForeignKey("unit_checkin.id"), nullable=False, index=True)
    checkin = relationship("UnitCheckin")
    unit_id = Column(Integer, ForeignKey("unit.id"), nullable=False, index=True)
    unit = relationship("Unit")
    quarter = Column(String(6), nullable=False)  # "2026Q4"
    submitted_on = Column(Date, nullable=False)
    summary = Column(Text, nullable=False)  # the work done this quarter
    activities = Column(Integer)  # activities held
    members_served = Column(Integer)  # Party members of the unit who took part (人次)
    people_served = Column(Integer)  # residents served (人次)
    problems = Column(Text)
    next_plan = Column(Text)
    file = Column(FileColumn)
    submitted_by = Column(String(50))

    @validates("checkin")
    def _unit_of_checkin(self, _key, checkin):
        # Screens and the API set the check-in object: the unit follows it before the flush, so
        # the scope hook already sees whose report it is.
        if checkin is not None and checkin.unit is not None:
            self.unit = checkin.unit
        return checkin

    def file_name(self):
        return get_file_original_name(self.file) if self.file else ""

    def __repr__(self):
        return f"{self.unit} {self.quarter}"


@event.listens_for(UnitReport, "before_insert")
@event.listens_for(UnitReport, "before_update")
def _unit_from_checkin_id(_mapper, connection, report):
    """Writers that set only ``checkin_id`` (imports, scripts) get the check-in's unit too."""
    if report.checkin_id is None:
        return
    unit_id = connection.execute(
        select(UnitCheckin.unit_id).where(UnitCheckin.id == report.checkin_id)).scalar_one_or_none()
    if unit_id is not None:
        report.unit_id = unit_id
