"""The three lists (三张清单): needs, resources and projects, and projects claimed (认领) by
units or members, each approved or rejected."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from .base import AreaMixin, BusinessModel, Choices

APPROVAL_STATUS = Choices(
    ("pending", _l("Pending")),
    ("approved", _l("Approved")),
    ("rejected", _l("Rejected")),
)
LIST_CATEGORIES = Choices(
    ("elderly", _l("Elderly care")),
    ("children", _l("Children and youth")),
    ("environment", _l("Environment and greening")),
    ("safety", _l("Safety and order")),
    ("culture", _l("Culture and education")),
    ("health", _l("Health")),
    ("property", _l("Property and housing")),
    ("employment", _l("Employment")),
    ("venue", _l("Venues and equipment")),
    ("other", _l("Other")),
)


class ApprovalMixin:
    """pending → approved / rejected (a rejection needs a reason, an approval may carry a note),
    by someone other than who submitted it: app/approvals/ decides, app/core/approvals.py keeps
    every other write away from these columns."""

    submitted_by = Column(String(64))  # the account that submitted it, set by the approvals hook
    status = Column(String(20), nullable=False, default="pending", index=True)
    reviewed_by = Column(String(50))
    reviewed_at = Column(DateTime)
    reject_reason = Column(Text)
    review_note = Column(Text)  # the reviewer's note on an approval


class Need(ApprovalMixin, AreaMixin, BusinessModel):
    """需求清单: what residents and the community need."""

    __tablename__ = "need"

    title = Column(String(200), nullable=False)
    category = Column(String(20), nullable=False, default="other")
    description = Column(Text)
    proposer = Column(String(50))
    submitted_on = Column(Date)


class Resource(ApprovalMixin, AreaMixin, BusinessModel):
    """资源清单: what a unit can offer (venues, skills, funds, equipment)."""

    __tablename__ = "resource"

    unit_id = Column(Integer, ForeignKey("unit.id"), nullable=False, index=True)
    unit = relationship("Unit")
    title = Column(String(200), nullable=False)
    category = Column(String(20), nullable=False, default="other")
    description = Column(Text)


class Project(ApprovalMixin, AreaMixin, BusinessModel):
    """项目清单: a concrete project meeting a need, claimed by units or members."""

    __tablename__ = "project"

    need_id = Column(Integer, ForeignKey("need.id"), index=True)
    need = relationship("Need")
    title = Column(String(200), nullable=False)
    category = Column(String(20), nullable=False, default="other")
    description = Column(Text)
    starts_on = Column(Date)
    ends_on = Column(Date)

    claims = relationship("ProjectClaim", back_populates="project")


class ProjectClaim(ApprovalMixin, AreaMixin, BusinessModel):
    """A unit or a member claims a project (认领); a reviewer approves the claim."""

    __tablename__ = "project_claim"

    project_id = Column(Integer, ForeignKey("project.id"), nullable=False, index=True)
    project = relationship("Project", back_populates="claims")
    unit_id = Column(Integer, ForeignKey("unit.id"), index=True)
    unit = relationship("Unit")
    member_id = Column(Integer, ForeignKey("party_member.id"), index=True)
    member = relationship("PartyMember")
    claimed_on = Column(Date, nullable=False)
    note = Column(Text)

    def __repr__(self):
        return f"{self.project} ← {self.unit or self.member}"
