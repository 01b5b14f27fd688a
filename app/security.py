"""Gongjian's security manager: FAB's database auth with every login, good or bad, written to
the audit log."""
from flask_appbuilder.security.sqla.manager import SecurityManager


class GongjianSecurityManager(SecurityManager):
    def auth_user_db(self, username, password):
        from app.audit import record_event

        user = super().auth_user_db(username, password)
        if user is not None:
            record_event("login", "ab_user", user.id, summary=username)
        else:
            record_event("login_failed", "ab_user", None, summary=(username or "")[:64])
        return user
