"""二次验证账号 (issue 14): the security administrator sees which accounts set up two-factor
authentication and resets a business account's (the person lost their phone and their recovery
codes: they enrol anew at their next login). A privileged account's second factor, and one's own,
are reset only on the command line (``gongjian reset-2fa``; app/core/duties.py): a refusal here
is audited ``denied``.

Permissions (app/core/roles.py): ``can_read`` and ``can_reset`` on ``TwoFactorAccounts``, for the
security administrator only."""
from typing import ClassVar

from flask import abort, flash, redirect, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext as _
from sqlalchemy import select

from app.core import two_factor
from app.core.duties import DutiesRefused, check_two_factor_reset, refuse_and_audit
from app.extensions import db
from models import TwoFactor
from views.audit_display import local_time


class TwoFactorLine:
    def __init__(self, row, codes_left):
        self.user_id = row.user_id
        self.account = row.user.username
        self.name = row.user.get_full_name()
        self.enrolled = local_time(row.confirmed_at)  # "" while enrolment is begun, not confirmed
        self.codes_left = codes_left


class TwoFactorAccountsView(BaseView):
    route_base = "/two-factor-accounts"
    default_view = "index"
    class_permission_name = "TwoFactorAccounts"
    method_permission_name: ClassVar[dict] = {"index": "read", "reset": "reset"}

    @expose("/")
    @has_access
    def index(self):
        rows = db.session.scalars(select(TwoFactor).join(TwoFactor.user).order_by(User.username)).all()
        lines = [TwoFactorLine(row, two_factor.recovery_codes_left(row.user)) for row in rows]
        return self.render_template("two_factor_accounts.html", lines=lines, title=_("Two-factor accounts"))

    @expose("/reset/<int:pk>", methods=["POST"])
    @has_access
    def reset(self, pk):
        """Reset one account's second factor (a business account's only; audited)."""
        account = db.session.get(User, pk)
        if account is None or db.session.get(TwoFactor, pk) is None:
            abort(404)
        try:
            refuse_and_audit(check_two_factor_reset, account)
        except DutiesRefused as refused:
            flash(str(refused), "danger")
        else:
            two_factor.reset(account)
            flash(_("The two-factor authentication of %(account)s was reset", account=account.username), "success")
        return redirect(url_for("TwoFactorAccountsView.index"))
