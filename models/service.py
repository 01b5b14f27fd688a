"""Service records (服务记录): each activity a member or unit does, with hours and points."""
from sqlalchemy import Column, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from .base import AreaMixin, BusinessModel


class ServiceRecord(AreaMixin, BusinessModel):
    """One activity by a member or a unit, verified by the community (社区认证)."""

    __tablename__ = "service_record"
    __table_args__ = (Index("ix_service_record_area_served", "area_id", "served_on"),)

    member_id = Column(Integer, ForeignKey("party_member.id"), index=True)
    member = relationship("PartyMember", back_populates="service_records")
    unit_id = Column(Integer, ForeignKey("unit.id"), index=True)
    unit = relationship("Unit")
    project_id = Column(Integer, ForeignKey("project.id"), index=True)
    project = relationship("Project")
    served_on = Column(Date, nullable=False, index=True)
    hours = Column(Float, nullable=False)
    points = Column(Float, nullable=False, default=0)
    content = Column(String(200), nullable=False)
    verified_by = Column(String(50))
    verified_on = Column(Date)
    checked_in_at = Column(DateTime)
    checked_out_at = Column(DateTime)
    note = Column(Text)

    def __repr__(self):
        return f"{self.member or self.unit} {self.served_on} {self.content}"
