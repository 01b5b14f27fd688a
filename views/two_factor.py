"""Two-factor authentication on the screens (the rules: app/core/two_factor.py).

* **The code step of the login** (/login/2fa): once the password of an enrolled account is right
  (views/password.py GongjianAuthDBView, after the captcha and the lockout check), the account is
  not logged in yet: the Flask session keeps a pending marker (its id, when, where to go next) for
  five minutes and this form asks for the code. A right code completes the login (session row,
  last-login notice and ``login`` entry: views/security.py ``second_factor_login``); a wrong one
  is audited ``2fa_failed`` and counts toward the lockout like a wrong password.
* **Forced enrolment**: an account whose roles require it (the setting ``two_factor_roles``) and
  that has not enrolled is sent from every screen to /2fa/enrol — after the forced password
  change, which comes first.
* **My two-factor authentication** (/2fa/): status, enrolment (a QR code drawn on the server as
  inline SVG, and the secret as text), new recovery codes (with a current code), turning it off
  when one's roles do not require it. Every signed-in account may use it (self-service, like the
  password change); the menu entry needs ``can_read`` on ``MyTwoFactor`` (app/core/roles.py).

The API login's part is views/password.py's (``totp`` in the body); the security administrator's
reset screen is views/two_factor_admin.py.
"""
import time

from flask import flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.sqla.models import User
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.core import two_factor
from app.extensions import db
from models import TwoFactor
from views.audit_display import local_time

PENDING_KEY = "gongjian_2fa_pending"  # [account id, unix time, next url] between the two steps
PENDING_SECONDS = 300
# What an API or screen login held back for the second factor: ("needed" or "wrong", account),
# and an API login of an account that must enrol first (set by views/security.py's auth_user_db in
# the request's environ: g would outlive the request).
SECOND_FACTOR_HELD = "gongjian.second_factor"
ENROLMENT_HELD = "gongjian.two_factor_enrolment"

CODE_NEEDED = _l("A second-factor code is needed")
ENROL_FIRST = _l("Your role requires two-factor authentication: set it up before you go on")
ENROL_ON_SCREEN = _l("Your role requires two-factor authentication: log in on the screens and set it up "
                     "there first")
PENDING_EXPIRED = _l("The login took too long or was not started: enter your user name and password again")
CODES_NEW = _l("New recovery codes were made: the old ones no longer work")
DISABLED = _l("Two-factor authentication is turned off")
ENROLLED = _l("Two-factor authentication is set up")


class CodeForm(DynamicForm):
    code = StringField(_l("Verification code"), validators=[DataRequired(), Length(max=32)])


def hold_for_code(user, next_url):
    """The password of ``user`` was right and they have a second factor: remember that for five
    minutes and ask for the code."""
    session[PENDING_KEY] = [user.id, int(time.time()), next_url or ""]
    return redirect(url_for("TwoFactorLoginView.code"))


def _pending_account():
    """The account between the two login steps, or None (none, expired or gone)."""
    pending = session.get(PENDING_KEY)
    if not (isinstance(pending, list) and len(pending) == 3 and isinstance(pending[0], int)
            and isinstance(pending[1], int)):
        return None
    if time.time() - pending[1] > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None
    account = db.session.get(User, pending[0])
    return account if account is not None and account.is_active else None


def _signed_in_account():
    return db.session.get(User, current_user.id) if current_user.is_authenticated else None


def _show_codes(view, codes, title):
    return view.render_template("two_factor_codes.html", codes=codes, title=title, appbuilder=view.appbuilder)


class TwoFactorLoginView(BaseView):
    """The login's second step: the code of an account whose password was right."""

    route_base = "/login"

    @expose("/2fa", methods=["GET", "POST"])
    @no_cache
    def code(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_index)
        account = _pending_account()
        if account is None:
            flash(str(PENDING_EXPIRED), "warning")
            return redirect(self.appbuilder.get_url_for_login)
        form = CodeForm()
        if form.validate_on_submit():
            sm = self.appbuilder.sm
            done = sm.second_factor_login(account, form.code.data)
            if done is not None:
                next_url = get_safe_redirect(session.pop(PENDING_KEY)[2] or "")
                login_user(done, remember=False)
                return redirect(next_url)
            if sm.is_locked(account.id):  # told by the lockout's own message
                session.pop(PENDING_KEY, None)
                return redirect(self.appbuilder.get_url_for_login)
            form.code.errors.append(str(two_factor.WRONG_CODE))
        return self.render_template("two_factor_login.html", form=form, title=_l("Two-factor authentication"),
                                    appbuilder=self.appbuilder)


class TwoFactorView(BaseView):
    """My two-factor authentication: status, enrolment, recovery codes, turning it off."""

    route_base = "/2fa"
    default_view = "index"
    class_permission_name = "MyTwoFactor"  # the menu entry's permission; the pages are self-service

    @expose("/")
    def index(self):
        account = _signed_in_account()
        if account is None:
            return redirect(self.appbuilder.get_url_for_login_with(request.full_path))
        row = db.session.get(TwoFactor, account.id)
        enrolled = row is not None and row.confirmed_at is not None
        return self.render_template(
            "two_factor_account.html", title=_l("Two-factor authentication"),
            enrolled=enrolled, since=local_time(row.confirmed_at) if enrolled else None,
            codes_left=two_factor.recovery_codes_left(account) if enrolled else 0,
            required=two_factor.required_for(account), appbuilder=self.appbuilder)

    @expose("/enrol", methods=["GET", "POST"])
    def enrol(self):
        account = _signed_in_account()
        if account is None:
            return redirect(self.appbuilder.get_url_for_login_with(request.full_path))
        if two_factor.is_enrolled(account):
            return redirect(url_for("TwoFactorView.index"))
        form = CodeForm()
        if form.validate_on_submit():
            try:
                codes = two_factor.confirm_enrolment(account, form.code.data)
            except two_factor.TwoFactorRefused as refused:
                form.code.errors.extend(refused.messages()["code"])
            else:
                flash(str(ENROLLED), "success")
                return _show_codes(self, codes, _l("Your recovery codes"))
        secret, uri = two_factor.begin_enrolment(account)
        return self.render_template(
            "two_factor_enrol.html", title=_l("Set up two-factor authentication"), form=form,
            qr=two_factor.qr_svg(uri), secret=secret, required=two_factor.required_for(account),
            appbuilder=self.appbuilder)

    @expose("/recovery-codes", methods=["POST"])
    def recovery_codes(self):
        account = _signed_in_account()
        if account is None:
            return redirect(self.appbuilder.get_url_for_login)
        form = CodeForm()
        if form.validate_on_submit():
            try:
                codes = two_factor.regenerate_recovery_codes(account, form.code.data)
            except two_factor.TwoFactorRefused as refused:
                flash(str(refused), "danger")
            else:
                flash(str(CODES_NEW), "success")
                return _show_codes(self, codes, _l("Your new recovery codes"))
        else:
            flash(str(two_factor.WRONG_CODE), "danger")
        return redirect(url_for("TwoFactorView.index"))

    @expose("/disable", methods=["POST"])
    def disable(self):
        account = _signed_in_account()
        if account is None:
            return redirect(self.appbuilder.get_url_for_login)
        form = CodeForm()
        if form.validate_on_submit():
            try:
                two_factor.disable(account, form.code.data)
            except two_factor.TwoFactorRefused as refused:
                flash(str(refused), "danger")
            else:
                flash(str(DISABLED), "success")
        else:
            flash(str(two_factor.WRONG_CODE), "danger")
        return redirect(url_for("TwoFactorView.index"))


ENROLMENT_OPEN = ("/2fa/enrol", "/password/change", "/logout/", "/login/2fa")


def install_forced_enrolment(app):
    """Every screen request of an account that must enrol and has not goes to the enrolment page
    (installed after the forced password change, which therefore comes first)."""

    @app.before_request
    def _forced_enrolment():
        path = request.path
        if path.startswith(("/api/", "/static/", "/lang/")) or path in ENROLMENT_OPEN:
            return None
        if not current_user.is_authenticated or not two_factor.required_for(current_user):
            return None
        if two_factor.is_enrolled(current_user):
            return None
        if (str(ENROL_FIRST), "warning") not in [tuple(item) for item in session.get("_flashes", [])]:
            flash(str(ENROL_FIRST), "warning")
        return redirect(url_for("TwoFactorView.enrol"))
