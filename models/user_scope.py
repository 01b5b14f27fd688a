"""The scope of an account: the area node whose subtree it may see, and for unit liaisons the
unit they speak for. Kept beside FAB's ab_user rather than subclassing it."""
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, ForeignKey, Integer
from sqlalchemy.orm import backref, relationship

from .base import BusinessModel


class UserScope(BusinessModel):
    __tablename__ = "user_scope"

    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, unique=True)
    user = relationship(User, backref=backref("scope", uselist=False, cascade="all, delete-orphan"))
    area_id = Column(Integer, ForeignKey("area.id"), nullable=True, index=True)
    area = relationship("Area")
    unit_id = Column(Integer, ForeignKey("unit.id"), nullable=True, index=True)
    unit = relationship("Unit")

    def __repr__(self):
        return f"{self.user}: {self.area or '-'}"
