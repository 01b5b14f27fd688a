"""登录日志 (issue 14): the audit log's login entries — logins good and bad, lockouts, logouts,
sessions ended by their owner and forced logouts — as a read-only list for the auditor (the
``can_read`` permission on ``LoginLog``, app/core/roles.py; the system administrator does not
hold it). It is the audit log screen (views/audit.py) narrowed to those actions: the same
times, words and filters, plus the device each entry came from (its ``user_agent`` detail,
written by app/core/sessions.py ``login_details``)."""
import json

from flask_appbuilder.models.sqla.filters import FilterInFunction
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.core.session_registry import device
from models import AuditLog
from views.audit_display import FORMATTERS
from views.base import GongjianBaseView

# The audit actions the login log lists (the password and second-factor ones are written by
# issue 14's other parts).
LOGIN_ACTIONS = ("login", "login_failed", "login_refused_locked", "login_refused_password_change", "lockout",
                 "logout", "forced_logout", "session_ended", "2fa_failed", "captcha_failed", "password_changed",
                 "password_change_failed", "login_refused_two_factor", "2fa_enrolled", "2fa_disabled", "2fa_reset",
                 "2fa_recovery_codes", "2fa_recovery_used")
def _details(changes):
    try:
        details = json.loads(changes) if changes else {}
    except ValueError:
        return {}
    return details if isinstance(details, dict) else {}


def user_agent_cell(changes):
    """The entry's device in plain words, with the user agent it came from beneath."""
    agent = _details(changes).get("user_agent")
    if not isinstance(agent, str) or not agent:
        return ""
    return Markup('{}<br><small class="text-muted">{}</small>').format(device(agent), agent)


def login_actions():
    return list(LOGIN_ACTIONS)


class LoginLogView(GongjianBaseView):
    model = AuditLog
    class_permission_name = "LoginLog"
    route_base = "/login-log"
    base_permissions = ["can_read"]
    include_route_methods = {"list", "show"}  # read-only: no add, edit, delete or action routes at all
    base_filters = [["action", FilterInFunction, login_actions]]
    base_order = ("id", "desc")
    list_title = _l("Login log")
    list_columns = ["at", "summary", "action", "client_addr", "changes", "actor"]
    show_columns = ["at", "summary", "action", "actor", "roles", "via", "client_addr", "changes", "request_id"]
    search_columns = ["action", "summary", "actor", "at", "client_addr"]
    label_columns = {"summary": _l("Account"), "changes": _l("Device"), "actor": _l("By"),
                     "client_addr": _l("IP address")}
    formatters_columns = {**FORMATTERS, "changes": user_agent_cell}

    def render_template(self, template, **kwargs):
        # No 导出 buttons: the export resource of these rows is the whole audit log's.
        kwargs["export_resource"] = None
        return super().render_template(template, **kwargs)
