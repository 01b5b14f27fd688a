"""Passwords' history and age, and the login captcha's open challenges (app/core/passwords.py and
app/core/captcha.py write them; none is a business record, none is audited row by row).

* ``account_password``: one row per account — when its password was last set, by whom, and
  whether its owner must choose a new one at the next login (set by someone else).
* ``password_history``: the hashes (werkzeug's, as ab_user keeps them) of the passwords an
  account had, newest last: a new password may not be one of the last N.
* ``captcha_challenge``: a captcha shown and not yet answered. Only an HMAC of the answer is
  kept; a challenge is deleted at its first answer (single use) and expires after five minutes.
"""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import relationship

from .base import utcnow


class AccountPassword(Model):
    __tablename__ = "account_password"

    user_id = Column(Integer, ForeignKey(User.id, ondelete="CASCADE"), primary_key=True)
    changed_at = Column(DateTime, nullable=False, default=utcnow)
    changed_by = Column(String(64), nullable=False, default="system")  # a username, "cli" or "system"
    must_change = Column(Boolean, nullable=False, default=False)
    user = relationship(User)

    def __repr__(self):
        return str(self.user)


class PasswordHistory(Model):
    __tablename__ = "password_history"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey(User.id, ondelete="CASCADE"), nullable=False, index=True)
    password_hash = Column(String(256), nullable=False)
    changed_at = Column(DateTime, nullable=False, default=utcnow)
    user = relationship(User)


class CaptchaChallenge(Model):
    __tablename__ = "captcha_challenge"

    id = Column(String(64), primary_key=True)  # random, given to the client (or kept in its session)
    answer_digest = Column(String(64), nullable=False)
    expires_at = Column(DateTime, nullable=False, index=True)
