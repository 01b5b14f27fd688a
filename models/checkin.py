"""Double reporting (双报到): unit check-ins with their co-building agreements, and in-service
Party members' check-ins to the community where they live."""
from flask_appbuilder.filemanager import get_file_original_name
from flask_appbuilder.models.mixins import FileColumn
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from .base import AreaMixin, BusinessModel, Choices

UNIT_CHECKIN_STATUS = Choices(
    ("registered", _l("Registered")),
    ("confirmed", _l("Confirmed by the community")),
    ("expired", _l("Expired")),
)
MEMBER_CHECKIN_STATUS = UNIT_CHECKIN_STATUS  # the same life cycle for members


class UnitCheckin(AreaMixin, BusinessModel):
    """A unit's check-in (单位报到) to a community: slip in, confirmation, receipt out."""

    __tablename__ = "unit_checkin"
    __table_args__ = (UniqueConstraint("unit_id", "area_id", name="uq_unit_checkin_unit_area"),)

    unit_id = Column(Integer, ForeignKey("unit.id"), nullable=False, index=True)
    unit = relationship("Unit", back_populates="checkins")
    status = Column(String(20), nullable=False, default="registered", index=True)
    slip_no = Column(String(40))  # 报到单编号
    registered_on = Column(Date, nullable=False)
    confirmed_on = Column(Date)
    confirmed_by = Column(String(50))
    receipt_no = Column(String(40))  # 回执编号
    note = Column(Text)

    agreements = relationship("Agreement", back_populates="checkin")

    def __repr__(self):
        return f"{self.unit} → {self.area}"


class Agreement(AreaMixin, BusinessModel):
    """A co-building agreement (共建协议) signed on a check-in, with its term and liaison."""

    __tablename__ = "agreement"

    checkin_id = Column(Integer, ForeignKey("unit_checkin.id"), nullable=False, index=True)
    checkin = relationship("UnitCheckin", back_populates="agreements")
    title = Column(String(200), nullable=False)
    starts_on = Column(Date, nullable=False)
    ends_on = Column(Date, nullable=False)
    signed_on = Column(Date)
    liaison = Column(String(50))
    liaison_phone = Column(String(20))
    content = Column(Text)
    file = Column(FileColumn)


    def file_name(self):
        return get_file_original_name(self.file) if self.file else ""


class MemberCheckin(AreaMixin, BusinessModel):
    """An in-service member's check-in (在职党员报到) to the community where they live."""

    __tablename__ = "member_checkin"

    member_id = Column(Integer, ForeignKey("party_member.id"), nullable=False, index=True)
    member = relationship("PartyMember", back_populates="checkins")
    status = Column(String(20), nullable=False, default="registered", index=True)
    card_no = Column(String(40))  # 报到证编号
    registered_on = Column(Date, nullable=False)
    confirmed_on = Column(Date)
    valid_until = Column(Date)  # re-registration due
    post_category_id = Column(Integer, ForeignKey("post_category.id"))
    post_category = relationship("PostCategory")
    note = Column(Text)

    def __repr__(self):
        return f"{self.member} ({self.registered_on})"
