"""我的会话 and 在线用户 (issue 14): every signed-in person lists their own open sessions and ends
any one of them (or all the others); the security administrator lists everyone's open sessions
and ends one (强退). The rows are app/core/session_registry.py's; ending one refuses its cookie or
token from the next request on (app/core/sessions.py).

Permissions (app/core/roles.py): ``can_read`` on ``MySessions`` for every working role — ending
one's own session changes no record, like marking a notification read — and, for the security
administrator only, ``can_read`` and ``can_force_logout`` on ``OnlineSessions``."""
from flask import abort, flash, g, redirect, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from app.core import session_registry as registry
from app.core.audit import record_event
from app.core.sessions import current_session_id
from app.extensions import db
from models import UserSession
from views.audit_display import local_time
from views.labels import VIA_LABELS


class SessionLine:
    """One open session as a page shows it."""

    def __init__(self, row, current_id=None):
        self.id = row.id
        self.account = row.user.username if row.user is not None else ""
        self.name = row.user.get_full_name() if row.user is not None else ""
        self.via = VIA_LABELS.get(row.via, row.via)
        self.client_addr = row.client_addr or ""
        self.device = registry.device(row.user_agent) or _("Unknown device")
        self.user_agent = row.user_agent or ""
        self.created = local_time(row.created_at)
        self.last_seen = local_time(row.last_seen_at)
        self.is_current = row.id == current_id


def _open_row(pk, user_id=None):
    """An open session (of ``user_id`` only, when given); 404 for any other id, like a missing one."""
    row = db.session.get(UserSession, pk)
    if row is None or row.ended_at is not None or (user_id is not None and row.user_id != user_id):
        abort(404)
    return row


class MySessionsView(BaseView):
    """我的会话: the signed-in person's own open sessions."""

    route_base = "/my-sessions"
    default_view = "index"
    class_permission_name = "MySessions"
    method_permission_name = {"index": "read", "end": "read", "end_others": "read"}
    template = "sessions_mine.html"

    @expose("/")
    @has_access
    def index(self):
        current = current_session_id()
        lines = [SessionLine(row, current) for row in registry.open_rows(g.user.id)]
        return self.render_template(self.template, lines=lines, title=_("My sessions"))

    @expose("/end/<int:pk>", methods=["POST"])
    @has_access
    def end(self, pk):
        """End one of my sessions (someone else's id answers 404)."""
        row = _open_row(pk, g.user.id)
        registry.end_row(row, "ended_by_owner", by=g.user.username)
        record_event("session_ended", "ab_user", g.user.id, summary=g.user.username,
                     details=registry.client_details(session=row.id, via=row.via, session_addr=row.client_addr))
        flash(_("The session was ended"), "success")
        return redirect(url_for("MySessionsView.index"))

    @expose("/end-others", methods=["POST"])
    @has_access
    def end_others(self):
        """End all my sessions but this one (screens and API tokens)."""
        ended = registry.end_open_rows(g.user.id, "ended_by_owner", by=g.user.username, keep=current_session_id())
        if ended:
            record_event("session_ended", "ab_user", g.user.id, summary=g.user.username,
                         details=registry.client_details(sessions=[row.id for row in ended]))
        flash(_("%(count)d other sessions ended", count=len(ended)), "success")
        return redirect(url_for("MySessionsView.index"))


class OnlineSessionsView(BaseView):
    """在线用户: everyone's open sessions, and 强退 (forced logout) of one — allowed for any
    account: ending a session protects, it changes nothing of the account."""

    route_base = "/online-users"
    default_view = "index"
    class_permission_name = "OnlineSessions"
    method_permission_name = {"index": "read", "force": "force_logout"}
    template = "sessions_online.html"

    @expose("/")
    @has_access
    def index(self):
        current = current_session_id()
        lines = [SessionLine(row, current) for row in registry.open_rows()]
        return self.render_template(self.template, lines=lines, title=_("Online users"))

    @expose("/force/<int:pk>", methods=["POST"])
    @has_access
    def force(self, pk):
        """强退: end one open session of any account, audited with who did it."""
        row = _open_row(pk)
        account = row.user
        registry.end_row(row, "forced", by=g.user.username)
        record_event("forced_logout", "ab_user", row.user_id, summary=account.username,
                     details=registry.client_details(session=row.id, via=row.via, session_addr=row.client_addr,
                                                     session_user_agent=row.user_agent, by=g.user.username))
        flash(_("%(account)s was logged out of that session", account=account.username), "success")
        return redirect(url_for("OnlineSessionsView.index"))
