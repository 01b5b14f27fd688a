"""Joint meetings (联席会议, 圆桌会议, 板凳会 …), their agenda items and resolutions (议定事项).

A resolution is chased until an authorised user signs it off with evidence (办结销号)."""
from flask_appbuilder import Model
from flask_appbuilder.models.mixins import FileColumn
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import relationship, validates

from app.core import actor
from app.core.calendar import utcnow

from .base import AreaMixin, BusinessModel, Choices

MEETING_STATUS = Choices(
    ("planned", _l("Planned")),
    ("held", _l("Held")),
    ("minutes_filed", _l("Minutes filed")),
)
# Whether a resolution is closed, overdue, and its warning colour are computed from its status,
# deadline and sign-off by app/statistics/definitions.py, never read from a stored status: any
# status but "done" is open, and "overdue" (kept for records that carry it) says nothing more.
RESOLUTION_STATUS = Choices(
    ("open", _l("Open")),
    ("in_progress", _l("In progress")),
    ("done", _l("Done (signed off)")),
    ("overdue", _l("Overdue")),
)

meeting_unit = Table(
    "meeting_unit",
    Model.metadata,
    Column("meeting_id", Integer, ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", Integer, ForeignKey("unit.id"), primary_key=True, index=True),
)
resolution_co_unit = Table(
    "resolution_co_unit",
    Model.metadata,
    Column("resolution_id", Integer, ForeignKey("resolution.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", Integer, ForeignKey("unit.id"), primary_key=True, index=True),
)


class MeetingType(BusinessModel):
    """A kind of meeting; admins add their own beside the shipped ones."""

    __tablename__ = "meeting_type"

    name = Column(String(50), nullable=False, unique=True)
    description = Column(Text)
    active = Column(Boolean, nullable=False, default=True)


class Meeting(AreaMixin, BusinessModel):
    """A meeting held in an area, with its minutes (会议纪要)."""

    __tablename__ = "meeting"

    meeting_type_id = Column(Integer, ForeignKey("meeting_type.id"), nullable=False, index=True)
    meeting_type = relationship("MeetingType")
    title = Column(String(200), nullable=False)
    status = Column(String(20), nullable=False, default="planned")
    held_at = Column(DateTime, nullable=False, index=True)
    place = Column(String(200))
    convener = Column(String(50), nullable=False)
    note_taker = Column(String(50))
    attendees = Column(Text)  # people present, one per line or comma-separated
    units = relationship("Unit", secondary=meeting_unit)
    minutes = Column(Text)

    agenda_items = relationship("AgendaItem", back_populates="meeting", order_by="AgendaItem.seq")
    resolutions = relationship("Resolution", back_populates="meeting")


class AgendaItem(AreaMixin, BusinessModel):
    """A topic collected before the meeting (议题)."""

    __tablename__ = "agenda_item"

    meeting_id = Column(Integer, ForeignKey("meeting.id"), nullable=False, index=True)
    meeting = relationship("Meeting", back_populates="agenda_items")
    seq = Column(Integer, nullable=False, default=1)
    title = Column(String(200), nullable=False)
    proposer = Column(String(100))
    discussion = Column(Text)


class Resolution(AreaMixin, BusinessModel):
    """A resolution (议定事项) with a lead owner, co-owners, a deadline, and its sign-off."""

    __tablename__ = "resolution"

    meeting_id = Column(Integer, ForeignKey("meeting.id"), nullable=False, index=True)
    meeting = relationship("Meeting", back_populates="resolutions")
    title = Column(String(200), nullable=False)
    requirements = Column(Text)
    lead_unit_id = Column(Integer, ForeignKey("unit.id"), index=True)
    lead_unit = relationship("Unit", foreign_keys=[lead_unit_id])
    lead_person = Column(String(50), nullable=False)
    co_units = relationship("Unit", secondary=resolution_co_unit)
    co_owners = Column(String(200))
    deadline = Column(Date, nullable=False, index=True)
    status = Column(String(20), nullable=False, default="open", index=True)
    progress = Column(Text)
    evidence = Column(Text)
    evidence_file = Column(FileColumn)
    signed_off_by = Column(String(64))
    signed_off_at = Column(DateTime)

    @validates("status")
    def _stamp_sign_off(self, key, value):
        """Closing a resolution (办结销号) records who signed it off and when."""
        if value == "done" and self.status != "done":
            user = actor.current_user()
            self.signed_off_by = getattr(user, "username", None) or "system"
            self.signed_off_at = utcnow()
        elif value != "done":
            self.signed_off_by = None
            self.signed_off_at = None
        return value
