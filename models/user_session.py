"""Login sessions kept on the server (issue 14): one row per screen login or API login, so a
person sees their own open sessions and ends one, and the security administrator sees who is
online and ends a session (强退). The session's key is kept only as its SHA-256 digest: the
cookie holds the key, the database cannot give a valid one away (app/core/session_registry.py)."""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import relationship

from .base import utcnow

SESSION_VIA = ("web", "api")
# Why a session ended: the person logged out or ended it on 我的会话, the security administrator
# forced it, a lockout, an account change (password, roles, area, deactivation) or inactivity.
END_REASONS = ("logout", "ended_by_owner", "forced", "lockout", "account_change", "expired")


class UserSession(Model):
    __tablename__ = "user_session"
    # The per-account look-ups (my sessions, ending an account's sessions) read the open rows.
    __table_args__ = (Index("ix_user_session_user_ended", "user_id", "ended_at"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey(User.id, ondelete="CASCADE"), nullable=False)
    key_digest = Column(String(64), nullable=False, unique=True)
    via = Column(String(8), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)
    client_addr = Column(String(64))
    user_agent = Column(String(300))
    ended_at = Column(DateTime)
    ended_by = Column(String(64))
    end_reason = Column(String(20))
    user = relationship(User)

    def __repr__(self):
        return f"{self.user} ({self.via} #{self.id})"
