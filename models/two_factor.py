"""Two-factor authentication (issue 14): an account's TOTP secret and its recovery codes
(app/core/two_factor.py writes them; neither is a business record, neither is audited row by row:
the 2FA events are audit entries of their own).

* ``two_factor``: one row per account that began enrolment. ``secret`` is the base32 TOTP secret
  encrypted (Fernet, under a key derived from ``TWO_FACTOR_KEY`` or else SECRET_KEY): a copy of
  the database alone does not give anyone's codes. It never leaves the server: no screen, API,
  export or audit entry shows it, except the enrolment page of its own owner before
  ``confirmed_at`` is set. ``last_used_step`` is the TOTP
  time step (unix time // 30) of the last code accepted: a code of that step or an earlier one is
  refused, so a code seen over someone's shoulder cannot be used again.
* ``recovery_code``: ten single-use codes given at enrolment, kept as an HMAC only; ``used_at``
  is set when one is used.
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import relationship

from .base import utcnow


class TwoFactor(Model):
    __tablename__ = "two_factor"

    user_id = Column(Integer, ForeignKey(User.id, ondelete="CASCADE"), primary_key=True)
    secret = Column(String(255), nullable=False)  # encrypted: app/core/two_factor.py
    created_at = Column(DateTime, nullable=False, default=utcnow)
    confirmed_at = Column(DateTime)  # None: enrolment begun, not yet confirmed with a code
    last_used_step = Column(BigInteger)
    user = relationship(User)

    def __repr__(self):
        return str(self.user)


class RecoveryCode(Model):
    __tablename__ = "recovery_code"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey(User.id, ondelete="CASCADE"), nullable=False, index=True)
    code_digest = Column(String(64), nullable=False)
    used_at = Column(DateTime)
