"""How many times an account's sessions were ended: every login session and API token carries
the number current when it was made, and is refused once it is no longer current (logout,
lockout, a new password, other roles or area, deactivation; app/core/sessions.py)."""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, DateTime, ForeignKey, Integer


class AccountEpoch(Model):
    __tablename__ = "account_epoch"

    user_id = Column(Integer, ForeignKey(User.id, ondelete="CASCADE"), primary_key=True)
    epoch = Column(Integer, nullable=False, default=0)
    changed_at = Column(DateTime)
