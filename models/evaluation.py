"""Two-way feedback (双向反馈): the community grades each reported member per period on a scale
an admin edits, and sends a feedback letter (反馈函) to the employer."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from .base import AreaMixin, BusinessModel, Choices

LETTER_STATES = Choices(
    ("draft", _l("Draft")),
    ("sent", _l("Sent to employer")),
    ("received", _l("Received by employer")),
)


class GradeOption(BusinessModel):
    """One grade of the scale (优秀 / 合格 / 基本合格 / 不合格 …)."""

    __tablename__ = "grade_option"

    name = Column(String(20), nullable=False, unique=True)
    rank = Column(Integer, nullable=False, default=0)  # higher is better
    # A member who never checked in cannot receive a grade with this flag (合格 or above).
    requires_checkin = Column(Boolean, nullable=False, default=True)
    active = Column(Boolean, nullable=False, default=True)


class Evaluation(AreaMixin, BusinessModel):
    """A member's grade for a period ("2026", "2026Q3")."""

    __tablename__ = "evaluation"
    __table_args__ = (UniqueConstraint("member_id", "period", name="uq_evaluation_member_period"),)

    period = Column(String(7), nullable=False, index=True)
    member_id = Column(Integer, ForeignKey("party_member.id"), nullable=False, index=True)
    member = relationship("PartyMember")
    grade_id = Column(Integer, ForeignKey("grade_option.id"), nullable=False)
    grade = relationship("GradeOption")
    comment = Column(Text)
    letter_state = Column(String(20), nullable=False, default="draft")
    letter_sent_on = Column(Date)

    def __repr__(self):
        return f"{self.member} {self.period}"
