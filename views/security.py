"""Gongjian's security manager: FAB's database auth, plus account lockout after repeated
failures (kept in the database, so it survives a restart) and every login attempt, good or bad,
written to the audit log."""
from datetime import timedelta

from flask import current_app, flash, g, has_request_context, request, session
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import Permission, PermissionView, ViewMenu
from flask_appbuilder.security.sqla.models import assoc_permissionview_role as pvr
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from sqlalchemy import select

from app.core import passwords, sessions, two_factor
from app.core.audit import record_event
from app.extensions import db
from models import LoginGuard
from models.base import utcnow
from views.password import (
    PASSWORD_CHANGE_HELD,
    GongjianAuthDBView,
    GongjianSecurityApi,
    PasswordChangeView,
    install_forced_change,
)
from views.security_display import (
    GongjianResetMyPasswordView,
    GongjianResetPasswordView,
    GongjianRoleModelView,
    GongjianUserDBModelView,
)
from views.two_factor import ENROLMENT_HELD, SECOND_FACTOR_HELD, TwoFactorLoginView, install_forced_enrolment


def _lockout_settings():
    config = current_app.config
    return (config.get("LOCKOUT_FAILURES", 5), timedelta(minutes=config.get("LOCKOUT_MINUTES", 30)),
            timedelta(minutes=config.get("LOCKOUT_WINDOW_MINUTES", 15)))


class GongjianSecurityManager(SecurityManager):
    # Accounts and roles shown by their Chinese names (views/security_display.py).
    userdbmodelview = GongjianUserDBModelView
    rolemodelview = GongjianRoleModelView
    resetpasswordview = GongjianResetPasswordView
    # The login form and API login with the captcha and the forced password change (views/password.py).
    authdbview = GongjianAuthDBView
    security_api = GongjianSecurityApi
    resetmypasswordview = GongjianResetMyPasswordView

    def create_jwt_manager(self, app):
        """API tokens carry the account's epoch and are refused once it moved on, or while the
        account is locked or inactive (app/core/sessions.py)."""
        jwt_manager = super().create_jwt_manager(app)
        jwt_manager.additional_claims_loader(sessions.token_claims)
        jwt_manager.token_in_blocklist_loader(sessions.token_revoked)
        return jwt_manager

    def register_views(self):
        """FAB throttles the login form per client address; the API login, token refresh, password
        change and captcha (a GET that stores a challenge: unthrottled, anyone could fill the
        table) get the same limit."""
        super().register_views()
        self.appbuilder.add_view_no_menu(PasswordChangeView())
        self.appbuilder.add_view_no_menu(TwoFactorLoginView())
        if self.is_auth_limited:
            for view in self.appbuilder.baseviews:
                if isinstance(view, SecurityApi):
                    self.limiter.limit(self.auth_rate_limit, methods=["POST", "GET"])(view.blueprint)

    def exist_permission_on_roles(self, view_name, permission_name, role_ids):
        """One query per request for all of the user's permissions, instead of one per menu entry
        and button (FAB asks 35-45 times a page); a role change applies from the next request."""
        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        key = tuple(sorted(role_ids))
        cached = g.get("_gongjian_permissions")
        if cached is None or cached[0] != key:
            cached = g._gongjian_permissions = (key, self._permissions_of_roles(key))
        return (view_name, permission_name) in cached[1]

    def _permissions_of_roles(self, role_ids):
        rows = self.session.execute(
            select(ViewMenu.name, Permission.name).select_from(PermissionView)
            .join(pvr, pvr.c.permission_view_id == PermissionView.id)
            .join(Permission, Permission.id == PermissionView.permission_id)
            .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)
            .where(pvr.c.role_id.in_(role_ids))
        ).all()
        return {(view, permission) for view, permission in rows}

    def auth_user_db(self, username, password, for_password_change=False, second_factor=None):
        """``for_password_change``: the owner proves who they are to change their password
        (views/password.py: the password and, when enrolled, the second factor), which opens no
        session. Nor does an API login of an account that must
        change its password first: the request's ``PASSWORD_CHANGE_HELD`` holds it (the API answers 403).
        An account with a second factor (app/core/two_factor.py) needs a right ``second_factor``
        too: without one, the request's ``SECOND_FACTOR_HELD`` holds it ("needed": the screen asks
        for the code, views/two_factor.py); a wrong one ("wrong") is audited and counts toward the
        lockout like a wrong password. An API login of an account that must enrol and has not is
        held too (``ENROLMENT_HELD``; the API answers 403)."""
        user = self.find_user(username=username) if username else None
        guard = db.session.get(LoginGuard, user.id) if user is not None else None
        now = utcnow()
        if self._refused_while_locked(user, guard, now, username):
            return None
        authenticated = super().auth_user_db(username, password)
        if authenticated is None:
            record_event("login_failed", "ab_user", getattr(user, "id", None), summary=(username or "")[:64],
                         details=sessions.login_details())
            if user is not None:
                self._count_failure(user, guard, now)
            return None
        enrolled = two_factor.is_enrolled(authenticated)
        if for_password_change and not enrolled:
            if guard is not None:
                db.session.delete(guard)
            db.session.commit()
            return authenticated
        if enrolled and second_factor is None:
            if has_request_context():
                request.environ[SECOND_FACTOR_HELD] = ("needed", authenticated)
            db.session.commit()
            return None
        if enrolled and not two_factor.verify(authenticated, second_factor):
            if has_request_context():
                request.environ[SECOND_FACTOR_HELD] = ("wrong", authenticated)
            self._second_factor_failed(authenticated, guard, now)
            return None
        if for_password_change:  # the password and the second factor: the owner, without a session
            if guard is not None:
                db.session.delete(guard)
            db.session.commit()
            return authenticated
        if self._held_back_on_the_api(authenticated, username):
            if guard is not None:
                db.session.delete(guard)
            db.session.commit()
            return None
        return self._complete_login(authenticated, guard)

    def second_factor_login(self, user, code):
        """The login's second step on the screen (views/two_factor.py): ``user``'s password was
        right; a right ``code`` completes the login (returns the account), a wrong one is audited
        and counted toward the lockout (None); a locked account is refused."""
        guard = db.session.get(LoginGuard, user.id)
        now = utcnow()
        if self._refused_while_locked(user, guard, now, user.username):
            return None
        if not two_factor.verify(user, code):
            self._second_factor_failed(user, guard, now)
            return None
        return self._complete_login(user, guard)

    def is_locked(self, user_id):
        guard = db.session.get(LoginGuard, user_id)
        return guard is not None and guard.locked_until is not None and guard.locked_until > utcnow()

    def _refused_while_locked(self, user, guard, now, username):
        if guard is None or guard.locked_until is None or guard.locked_until <= now:
            return False
        record_event("login_refused_locked", "ab_user", user.id, summary=username, details=sessions.login_details())
        self._say_locked(guard)
        return True

    def _complete_login(self, user, guard):
        """Every factor is right: the failures are forgiven, the session row opens, the login is audited."""
        if guard is not None:
            db.session.delete(guard)
        sessions.remember_login(user.id)  # a session row; the last-login notice
        record_event("login", "ab_user", user.id, summary=user.username, user=user, details=sessions.login_details())
        return user

    def _second_factor_failed(self, user, guard, now):
        record_event("2fa_failed", "ab_user", user.id, summary=user.username, details=sessions.login_details())
        self._count_failure(user, guard, now)

    @staticmethod
    def _held_back_on_the_api(user, username):
        """An API login of an account that must change its password, or enrol a second factor,
        first: no token (the request's environ, not the app context's g, says why)."""
        if not (has_request_context() and request.path.startswith("/api/")):
            return False
        if passwords.change_reason(user) is not None:
            request.environ[PASSWORD_CHANGE_HELD] = user
            record_event("login_refused_password_change", "ab_user", user.id, summary=username)
            return True
        if two_factor.required_for(user) and not two_factor.is_enrolled(user):
            request.environ[ENROLMENT_HELD] = user
            record_event("login_refused_two_factor", "ab_user", user.id, summary=username)
            return True
        return False

    def on_user_logout(self, user):
        # the cookie, any copy of it, and the account's API tokens
        sessions.end_sessions(user.id, reason="logout", by=user.username)
        record_event("logout", "ab_user", user.id, summary=user.username, user=user, details=sessions.login_details())
        super().on_user_logout(user)

    def _count_failure(self, user, guard, now):
        max_failures, lock_for, window = _lockout_settings()
        if guard is None:
            guard = LoginGuard(user_id=user.id, failures=0)
            db.session.add(guard)
        if guard.first_failure_at is None or now - guard.first_failure_at > window:
            guard.failures, guard.first_failure_at = 0, now
        guard.failures += 1
        if guard.failures >= max_failures:
            guard.locked_until = now + lock_for
            guard.failures, guard.first_failure_at = 0, None
            sessions.end_sessions(user.id, reason="lockout", by="")
            record_event("lockout", "ab_user", user.id, summary=user.username,
                         details=sessions.login_details(until=guard.locked_until.isoformat()))
            self._say_locked(guard)
        db.session.commit()

    @staticmethod
    def _say_locked(guard):
        if has_request_context() and not request.path.startswith("/api/"):
            flash(_l("This account is locked after repeated failed logins. Try again later or ask the "
                     "security administrator to unlock it."), "danger")


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def install_web_hardening(app):
    """Security headers on every response; sessions expire after PERMANENT_SESSION_LIFETIME of
    inactivity."""
    @app.before_request
    def _expiring_session():
        session.permanent = True

    @app.before_request
    def _ended_session():
        """A session made before the account's sessions were ended (logout elsewhere, a new
        password, a lockout...) is signed out; the request goes on as anonymous."""
        if request.path.startswith(("/api/", "/static/")):
            return
        if current_user.is_authenticated and not sessions.session_is_current(current_user.id):
            logout_user()
            session.clear()
            g.user = current_user

    # An account that must change its password goes to the form first (after the check above:
    # an ended session is signed out). Its history and age: app/core/passwords.py's session hook.
    install_forced_change(app)
    # Then an account that must use a second factor and has none enrols (views/two_factor.py).
    install_forced_enrolment(app)

    @app.after_request
    def _security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", app.config["CONTENT_SECURITY_POLICY"])
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
