"""Passwords and the captcha on the screens and the API (the rules: app/core/passwords.py and
app/core/captcha.py).

* **The login form** (``GongjianAuthDBView``) asks for a captcha once the failed logins from the
  browser's address, or for the user name typed, reach the setting; the captcha is checked before
  the password. Its challenge id is kept in the browser's session, so another browser's answer
  does not fit.
* **The API login** (``GongjianSecurityApi``): the same captcha (400 naming ``captcha``, with
  ``captcha_url``: GET /api/v1/security/captcha gives an id and an image), and 403 naming
  ``password`` for an account that must change its password first (no token is made; nor at a
  refresh). POST /api/v1/security/password changes one's own password with the user name and
  the current password (no token needed), under the same policy, captcha and lockout.
* **The forced change**: an account whose password was set by someone else, or has expired, is
  sent from every screen (except this form, logout and static files) to /password/change with a
  message saying why. After a change every session of the account ends, this one included: the
  person logs in again with the new password (app/core/sessions.py ends them; one rule, no
  exception for the session that made the change).
"""
from flask import flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import safe
from flask_appbuilder.const import API_SECURITY_ACCESS_TOKEN_KEY, API_SECURITY_REFRESH_TOKEN_KEY
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.schemas import login_post
from flask_appbuilder.security.sqla.models import User
from flask_appbuilder.security.views import AuthDBView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt_identity, jwt_required
from flask_login import current_user, login_user, logout_user
from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo

from app.core import captcha, passwords, two_factor
from app.core.actor import acting_as, current_request_id
from app.core.audit import record_event
from app.extensions import db
from views.two_factor import CODE_NEEDED, ENROL_ON_SCREEN, ENROLMENT_HELD, SECOND_FACTOR_HELD, hold_for_code

CAPTCHA_KEY = "gongjian_captcha"  # the id of the challenge the login form shows
CAPTCHA_NEEDED = "gongjian_captcha_needed"  # the user name typed needs one (not known at GET)
CAPTCHA_WANTED = _l("Enter the characters shown in the image")
CAPTCHA_WRONG = _l("The characters do not match the image, or the image expired: try the new one")
CAPTCHA_API = _l("Too many failed logins: get a captcha from GET /api/v1/security/captcha and send its "
                 "captcha_id and the characters as captcha")
CHANGED = _l("Your password has been changed: log in with the new password")
WRONG_CURRENT = _l("The current password is wrong")
WRONG_LOGIN = _l("The user name or the current password is wrong")

# The account an API login held back because it must change its password (set by
# views/security.py's auth_user_db in the request's environ: g would outlive the request).
PASSWORD_CHANGE_HELD = "gongjian.password_change"


class CaptchaLoginForm(DynamicForm):
    username = StringField(_l("User Name"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    captcha = StringField(_l("Characters in the image"))


class PasswordChangeForm(DynamicForm):
    old_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(_l("New password"), validators=[DataRequired()])
    conf_password = PasswordField(_l("Repeat the new password"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two new passwords differ"))])


class PasswordChangeApiSchema(Schema):
    username = fields.String(required=True, validate=Length(min=1, max=256))
    old_password = fields.String(required=True, validate=Length(min=1, max=1024))
    new_password = fields.String(required=True, validate=Length(min=1, max=1024))
    captcha_id = fields.String(validate=Length(max=64))
    captcha = fields.String(validate=Length(max=32))
    totp = fields.String(validate=Length(max=32))


def change_own_password(account, new_password, field="password"):
    """The account's owner sets a new password (policy and history checked), committed and
    audited; raises PasswordRefused. Every session of the account ends (the epoch moves on)."""
    with acting_as(account, via="api" if request.path.startswith("/api/") else "web",
                   request_id=current_request_id()):
        try:
            passwords.check_new_password(new_password, account, field=field)
        except passwords.PasswordRefused:
            db.session.rollback()
            raise
        account.password = passwords.hash_password(new_password)
        db.session.commit()
        record_event("password_changed", "ab_user", account.id, summary=account.username, user=account)


def _captcha_passed(username, captcha_id, answer):
    """Whether a login (or a password change) for ``username`` may go on to the password: no
    captcha needed, or the right answer to a live challenge. A wrong answer is audited and counts
    as a failed login."""
    if not captcha.required(username, request.remote_addr):
        return True
    if captcha.verify(captcha_id, answer):
        return True
    if captcha_id or answer:
        record_event("captcha_failed", "ab_user", None, summary=(username or "")[:64])
    return False


class GongjianAuthDBView(AuthDBView):
    """FAB's login form, with the captcha after repeated failures (checked before the password)."""

    login_template = "password_login.html"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = CaptchaLoginForm()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            username = form.username.data
            if not _captcha_passed(username, session.pop(CAPTCHA_KEY, None), form.captcha.data):
                session[CAPTCHA_NEEDED] = True
                flash(str(CAPTCHA_WRONG if form.captcha.data else CAPTCHA_WANTED), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            user = self.appbuilder.sm.auth_user_db(username, form.password.data)
            held = request.environ.pop(SECOND_FACTOR_HELD, None)
            if not user and held is not None:  # the password is right: now the code (views/two_factor.py)
                session.pop(CAPTCHA_NEEDED, None)
                return hold_for_code(held[1], next_url)
            if not user:
                if captcha.required(username, request.remote_addr):
                    session[CAPTCHA_NEEDED] = True
                flash(str(self.invalid_login_message), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            session.pop(CAPTCHA_NEEDED, None)
            login_user(user, remember=False)
            return redirect(next_url)
        image = None
        if session.get(CAPTCHA_NEEDED) or captcha.required(None, request.remote_addr):
            session[CAPTCHA_KEY], image = captcha.issue()
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder,
                                    captcha_image=image)


class PasswordChangeView(BaseView):
    """Changing one's own password (with the current one): the forced change, and the account's
    own-password page (FAB's own form sends here)."""

    route_base = "/password"
    default_view = "change"

    @expose("/change", methods=["GET", "POST"])
    def change(self):
        if not current_user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login_with(request.full_path))
        account = db.session.get(User, current_user.id)
        form = PasswordChangeForm()
        if form.validate_on_submit():
            if not passwords.verify_password(account, form.old_password.data):
                record_event("password_change_failed", "ab_user", account.id, summary=account.username)
                form.old_password.errors.append(str(WRONG_CURRENT))
            else:
                try:
                    change_own_password(account, form.password.data)
                except passwords.PasswordRefused as refused:
                    form.password.errors.extend(refused.messages()["password"])
                else:
                    logout_user()
                    session.clear()
                    flash(str(CHANGED), "success")
                    return redirect(self.appbuilder.get_url_for_login)
        reason = passwords.change_reason(account)
        return self.render_template("password_change.html", form=form, reason=reason,
                                    policy=passwords.describe_policy(),
                                    title=_l("Change your password"), appbuilder=self.appbuilder)


def install_forced_change(app):
    """Every screen request of an account that must change its password first goes to the form."""

    @app.before_request
    def _forced_password_change():
        path = request.path
        if path.startswith(("/api/", "/static/", "/lang/")) or path in ("/password/change", "/logout/"):
            return None
        if not current_user.is_authenticated:
            return None
        reason = passwords.change_reason(current_user)
        if reason is None:
            return None
        if (str(reason), "warning") not in [tuple(item) for item in session.get("_flashes", [])]:
            flash(str(reason), "warning")
        return redirect(url_for("PasswordChangeView.change"))


class GongjianSecurityApi(SecurityApi):
    """FAB's API login and refresh, with the captcha and the forced change; the captcha itself;
    changing one's own password without a token."""

    def _must_change(self, user):
        """403 naming ``password`` if ``user`` must change their password first, else None."""
        reason = passwords.change_reason(user)
        if reason is None:
            return None
        return self.response(403, message={"password": [str(reason)]},
                             password_change_url=url_for(f"{type(self).__name__}.change_password"))

    def _held_back(self):
        """Why auth_user_db (views/security.py) held back a login whose password was right: the
        second factor missing or wrong (401 naming totp), a password to change first (403 naming
        password), a second factor to set up first (403 naming totp); None if it did not."""
        second_factor = request.environ.pop(SECOND_FACTOR_HELD, None)
        if second_factor is not None:
            why = CODE_NEEDED if second_factor[0] == "needed" else two_factor.WRONG_CODE
            return self.response(401, message={"totp": [str(why)]})
        held_back = request.environ.pop(PASSWORD_CHANGE_HELD, None)
        if held_back is not None:
            return self._must_change(held_back)
        if request.environ.pop(ENROLMENT_HELD, None) is not None:
            return self.response(403, message={"totp": [str(ENROL_ON_SCREEN)]})
        return None

    def _needs_captcha(self):
        return self.response(400, message={"captcha": [str(CAPTCHA_API)]},
                             captcha_url=url_for(f"{type(self).__name__}.new_captcha"))

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        """Log in: an access token (and a refresh token if asked)
        ---
        post:
          description: >-
            After repeated failed logins a captcha is needed (400 naming captcha: GET
            /api/v1/security/captcha); an account that must change its password gets 403 naming
            password (POST /api/v1/security/password). An account with two-factor authentication
            sends totp, the current code of its authenticator app or an unused recovery code (401
            naming totp when it is missing or wrong; a wrong one counts toward the lockout); an
            account whose role requires it and that has not set it up gets 403 naming totp (set it
            up on the screens first).
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    username: {type: string}
                    password: {type: string}
                    provider: {type: string, enum: [db]}
                    refresh: {type: boolean}
                    captcha_id: {type: string}
                    captcha: {type: string}
                    totp: {type: string, description: "second factor: a 6-digit code or a recovery code"}
          responses:
            200:
              description: Tokens
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      access_token: {type: string}
                      refresh_token: {type: string}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        payload = request.get_json(silent=True) if request.is_json else None
        if not isinstance(payload, dict):
            return self.response_400(message="Request payload is not JSON")
        captcha_id, answer = payload.pop("captcha_id", None), payload.pop("captcha", None)
        code = payload.pop("totp", None)
        if code is not None and not (isinstance(code, str) and len(code) <= 32):
            return self.response_400(message={"totp": [str(two_factor.WRONG_CODE)]})
        try:
            login_payload = login_post.load(payload)
        except ValidationError as error:
            return self.response_400(message=error.messages)
        if login_payload["provider"] != "db":
            return self.response_401()
        username = login_payload["username"]
        if not _captcha_passed(username, captcha_id, answer):
            return self._needs_captcha()
        user = self.appbuilder.sm.auth_user_db(username, login_payload["password"], second_factor=code or None)
        if not user:
            return self._held_back() or self.response_401()
        tokens = {API_SECURITY_ACCESS_TOKEN_KEY: create_access_token(identity=str(user.id), fresh=True)}
        if login_payload.get("refresh"):
            tokens[API_SECURITY_REFRESH_TOKEN_KEY] = create_refresh_token(identity=str(user.id))
        return self.response(200, **tokens)

    @expose("/refresh", methods=["POST"])
    @jwt_required(refresh=True)
    @safe
    def refresh(self):
        """A new access token for a refresh token
        ---
        post:
          responses:
            200:
              description: A new access token
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      access_token: {type: string}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        user = db.session.get(User, int(get_jwt_identity()))
        if user is None:
            return self.response_401()
        refused = self._must_change(user)
        if refused is not None:
            return refused
        return self.response(200, **{API_SECURITY_ACCESS_TOKEN_KEY: create_access_token(
            identity=str(user.id), fresh=False)})

    @expose("/captcha", methods=["GET"])
    @safe
    def new_captcha(self):
        """A captcha for the login: its id and image
        ---
        get:
          responses:
            200:
              description: Send captcha_id and the characters (captcha) with the login; valid 5 minutes, once
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      captcha_id: {type: string}
                      image: {type: string, description: "data:image/png;base64,..."}
        """
        captcha_id, image = captcha.issue()
        return self.response(200, captcha_id=captcha_id, image=image)

    @expose("/password", methods=["POST"])
    @safe
    def change_password(self):
        """Change one's own password with the user name and the current password (no token)
        ---
        post:
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    username: {type: string}
                    old_password: {type: string}
                    new_password: {type: string}
                    captcha_id: {type: string}
                    captcha: {type: string}
                    totp: {type: string, description: "the second factor of an account that has one"}
          responses:
            200:
              description: Changed; every session and token of the account ended
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        try:
            data = PasswordChangeApiSchema().load(request.get_json(silent=True) if request.is_json else None)
        except ValidationError as error:
            return self.response_400(message=error.messages)
        if not _captcha_passed(data["username"], data.get("captcha_id"), data.get("captcha")):
            return self._needs_captcha()
        account = self.appbuilder.sm.auth_user_db(data["username"], data["old_password"], for_password_change=True,
                                                  second_factor=data.get("totp") or None)
        if account is None:
            if request.environ.get(SECOND_FACTOR_HELD) is not None:  # an account with a second factor
                return self._held_back()
            return self.response(401, message={"old_password": [str(WRONG_LOGIN)]})
        try:
            change_own_password(account, data["new_password"], field="new_password")
        except passwords.PasswordRefused as refused:
            return self.response_400(message=refused.messages())
        return self.response(200, message=str(CHANGED))
