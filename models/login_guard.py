"""Failed-login counting and account lockout, kept in the database so a lock survives a restart
(FAB counts failures but never locks)."""
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, DateTime, ForeignKey, Integer
from sqlalchemy.orm import relationship


class LoginGuard(Model):
    __tablename__ = "login_guard"

    user_id = Column(Integer, ForeignKey(User.id, ondelete="CASCADE"), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)
    first_failure_at = Column(DateTime)
    locked_until = Column(DateTime)
    user = relationship(User)

    def __repr__(self):
        return str(self.user)
