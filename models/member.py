"""In-service Party members (在职党员) who report to the community where they live.

Identity is the ID-card number; ``id_card_digest`` (a keyed HMAC, app/core/masking.py) is unique, so the
same person can never be registered twice, even while the number is shown masked.
"""
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship, validates

from app.core.masking import id_card_digest

from .base import AreaMixin, BusinessModel, Choices

GENDERS = Choices(("male", _l("Male")), ("female", _l("Female")))


class PartyMember(AreaMixin, BusinessModel):
    """A member; ``area`` is where they live (community, grid or micro-grid)."""

    __tablename__ = "party_member"
    # "Name starts with" on PostgreSQL uses LIKE, which a plain index under a non-C collation
    # cannot serve (SQLite uses a range on ix_party_member_name instead).
    __table_args__ = (
        Index("ix_party_member_name_prefix", "name", postgresql_ops={"name": "text_pattern_ops"})
        .ddl_if(dialect="postgresql"),
    )

    name = Column(String(50), nullable=False, index=True)
    gender = Column(String(10))
    id_card = Column(String(18), nullable=False)
    id_card_digest = Column(String(64), nullable=False, unique=True)
    phone = Column(String(20))
    employer_id = Column(Integer, ForeignKey("unit.id"), index=True)
    employer = relationship("Unit", back_populates="members")
    party_joined_on = Column(Date)
    skills = Column(String(200))
    post_category_id = Column(Integer, ForeignKey("post_category.id"))
    post_category = relationship("PostCategory")
    preferred_post = Column(String(100))
    address = Column(String(200))
    note = Column(Text)

    checkins = relationship("MemberCheckin", back_populates="member")
    service_records = relationship("ServiceRecord", back_populates="member", lazy="dynamic")

    @validates("id_card")
    def _digest_id_card(self, key, value):
        """Keep the keyed hash in step with the number (duplicates are matched on the hash)."""
        if value:
            self.id_card_digest = id_card_digest(value, current_app.config["PERSONAL_DATA_HASH_KEY"])
        return value
