"""Resident units (驻区单位) and their Party organisation."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from .base import BusinessModel, Choices

UNIT_TYPES = Choices(
    ("organ", _l("Government organ")),
    ("institution", _l("Public institution")),
    ("soe", _l("State-owned enterprise")),
    ("private", _l("Non-public enterprise")),
    ("social_org", _l("Social organisation")),
)
PARTY_ORG_TYPES = Choices(
    ("committee", _l("Party committee")),
    ("general_branch", _l("General Party branch")),
    ("branch", _l("Party branch")),
)


class Unit(BusinessModel):
    """A unit located in an area; it checks in to one or more communities (see checkin.py)."""

    __tablename__ = "unit"

    name = Column(String(120), nullable=False, unique=True)
    unit_type = Column(String(20), nullable=False)
    credit_code = Column(String(18), unique=True)
    area_id = Column(Integer, ForeignKey("area.id"), nullable=False, index=True)
    area = relationship("Area")
    party_org_name = Column(String(120))
    party_org_type = Column(String(20))
    secretary = Column(String(50))
    liaison = Column(String(50))
    liaison_phone = Column(String(20))
    member_count = Column(Integer, nullable=False, default=0)
    address = Column(String(200))
    note = Column(Text)

    checkins = relationship("UnitCheckin", back_populates="unit")
    members = relationship("PartyMember", back_populates="employer")
