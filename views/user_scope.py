"""The security admin's screens: each account's area (and unit, for liaisons), and the accounts
locked after repeated failed logins (deleting the lock unlocks the account)."""
from flask import g
from flask_babel import lazy_gettext as _l

from app.core.audit import record_event
from app.core.duties import check_scope_row, refuse_and_audit
from models import LoginGuard, UserScope
from views.api_base import GongjianApi
from views.base import GongjianModelView


class UserScopeView(GongjianModelView):
    model = UserScope
    list_columns = ["user", "area", "unit"]
    search_columns = ["user", "unit"]
    show_columns = add_columns = edit_columns = ["user", "area", "unit"]

    def pre_add(self, item):
        super().pre_add(item)
        refuse_and_audit(check_scope_row, item)  # no one sets their own area (app/core/duties.py)

    def pre_update(self, item):
        super().pre_update(item)
        refuse_and_audit(check_scope_row, item)


class UserScopeApi(GongjianApi):
    model = UserScope
    resource_name = "user_scope"
    list_columns = show_columns = ["id", "user_id", "area_id", "unit_id"]
    add_columns = edit_columns = ["user", "area", "unit"]


class LockedAccountView(GongjianModelView):
    model = LoginGuard
    base_permissions = ["can_read", "can_write"]
    list_columns = show_columns = ["user", "failures", "first_failure_at", "locked_until"]
    label_columns = {"failures": _l("Failed logins"), "first_failure_at": _l("First failure at"),
                     "locked_until": _l("Locked until")}
    base_order = ("locked_until", "desc")

    def pre_delete(self, item):
        g.unlocking = (item.user_id, str(item.user))  # the row is gone (expired) after the delete

    def post_delete(self, item):
        user_id, username = g.pop("unlocking")
        record_event("unlock", "ab_user", user_id, summary=username)
