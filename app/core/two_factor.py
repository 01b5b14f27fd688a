"""Two-factor authentication (issue 14): a TOTP code (RFC 6238, 30-second steps, six digits; any
authenticator app) asked after the password, with ten single-use recovery codes.

* :func:`required_for` — whether the account's roles must use it: the setting
  ``two_factor_roles`` (comma-separated role names; shipped: the three privileged roles and the
  organisation department). ``TWO_FACTOR_ENFORCED`` false (the default of the testing
  environment, like the captcha's ``CAPTCHA_ENABLED``) requires it of no one;
  an account that enrolled is asked for its code whatever the setting.
* :func:`begin_enrolment` / :func:`confirm_enrolment` — a new secret (shown once as an
  ``otpauth://`` QR code drawn on the server, and as text), confirmed by a first right code, which
  gives the recovery codes (shown once; only their HMAC is kept).
* :func:`verify` — a TOTP code of the step before, the current one or the next (clocks drift),
  never one of a step already used (no replay: the step of each code accepted is kept), or an
  unused recovery code (then used up). Both are taken with a conditional UPDATE, so two requests
  racing with one code cannot both pass.
* :func:`reset` — the second factor removed, to enrol anew: by the command line for any account,
  by the security administrator on a screen for a business account only (app/core/duties.py).

The secret is kept encrypted (Fernet under a key derived from TWO_FACTOR_KEY, else SECRET_KEY:
changing that key makes every enrolment and recovery code void) and never leaves the server but
on its owner's enrolment page.
"""
import base64
import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app, g, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select, update

from app.core import duties
from app.core.audit import record_event
from app.core.calendar import utcnow
from app.core.refusals import MessageRefused
from app.extensions import db
from models.reference import DEFAULT_SETTINGS, Setting
from models.two_factor import RecoveryCode, TwoFactor

__all__ = ["ISSUER", "TwoFactorRefused", "begin_enrolment", "confirm_enrolment", "disable", "enforced",
           "is_enrolled", "qr_svg", "recovery_codes_left", "regenerate_recovery_codes", "required_for",
           "required_roles", "reset", "verify"]

ISSUER = "共建 Gongjian"
STEP_SECONDS = 30
VALID_WINDOW = 1  # steps accepted either side of now
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)
RECOVERY_LENGTH = 10

WRONG_CODE = _l("The code is wrong, expired or already used: enter the current code of your authenticator app, "
                "or an unused recovery code")
ALREADY_ENROLLED = _l("Two-factor authentication is already set up for this account")
NOT_ENROLLED = _l("Two-factor authentication is not set up for this account")
STILL_REQUIRED = _l("Your role requires two-factor authentication: it cannot be turned off")


class TwoFactorRefused(MessageRefused):
    """A second-factor step refused: ``errors`` = {field: [why]}."""


def enforced():
    """Whether the setting's roles must enrol: yes, unless ``TWO_FACTOR_ENFORCED`` says otherwise;
    off by default in the testing environment (like the captcha), whose apps log in as privileged
    accounts without a phone."""
    config = current_app.config
    return bool(config.get("TWO_FACTOR_ENFORCED", config.get("GONGJIAN_ENV") != "testing"))


def required_roles():
    """The role names of the setting ``two_factor_roles`` (read once per request)."""
    if has_app_context() and "gongjian_two_factor_roles" in g:
        return g.gongjian_two_factor_roles
    with db.session.no_autoflush:
        value = db.session.execute(select(Setting.value).where(Setting.key == "two_factor_roles")).scalar()
    if value is None:
        value = DEFAULT_SETTINGS["two_factor_roles"][0]
    roles = frozenset(name.strip() for name in value.split(",") if name.strip())
    g.gongjian_two_factor_roles = roles
    return roles


def required_for(user):
    """Whether ``user``'s roles must use two-factor authentication."""
    if user is None or getattr(user, "id", None) is None or not enforced():
        return False
    wanted = required_roles()
    return any(role.name in wanted for role in getattr(user, "roles", None) or [])


def _row(user_id):
    with db.session.no_autoflush:
        return db.session.get(TwoFactor, user_id)


def is_enrolled(user):
    """Whether ``user`` confirmed a second factor (their logins ask for a code)."""
    if user is None or getattr(user, "id", None) is None:
        return False
    with db.session.no_autoflush:
        return db.session.execute(select(TwoFactor.confirmed_at).where(
            TwoFactor.user_id == user.id)).scalar() is not None


def begin_enrolment(user):
    """The secret to enrol with and its ``otpauth://`` URI (committed): the unconfirmed one begun
    before (a reload of the page shows the same code), else a new one."""
    row = _row(user.id)
    if row is not None and row.confirmed_at is not None:
        raise TwoFactorRefused({"code": [ALREADY_ENROLLED]})
    if row is None:
        row = TwoFactor(user_id=user.id, secret=_seal(pyotp.random_base32()), created_at=utcnow())
        db.session.add(row)
        db.session.commit()
    secret = _open(row.secret)
    uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return secret, uri


def qr_svg(uri):
    """The QR code of ``uri`` as an inline ``<svg>`` element (drawn here: no script, no CDN)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")


def _normal(code):
    return "".join(str(code or "").split()).replace("-", "").lower()


def _digest(user_id, code):
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"recovery:{user_id}:{_normal(code)}".encode(), hashlib.sha256).hexdigest()


def _cipher():
    """Fernet under a key derived from TWO_FACTOR_KEY (else SECRET_KEY): the secrets at rest."""
    config = current_app.config
    key = (config.get("TWO_FACTOR_KEY") or config["SECRET_KEY"]).encode("utf-8")
    derived = hmac.new(key, b"gongjian two-factor secrets", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def _seal(secret):
    return _cipher().encrypt(secret.encode("ascii")).decode("ascii")


def _open(sealed):
    """The plain secret, or None when it cannot be decrypted (the key changed): no code fits."""
    try:
        return _cipher().decrypt(sealed.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError):
        return None


def _matching_step(sealed, code, last_used):
    """The time step whose TOTP code is ``code`` within the window and after ``last_used``, or
    None; ``sealed`` is the stored (encrypted) secret."""
    secret = _open(sealed)
    if secret is None:
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now = int(time.time()) // STEP_SECONDS
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if (last_used is None or step > last_used) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _take_step(user_id, step):
    """Record ``step`` as the last one used, unless a request got there first (committed)."""
    taken = db.session.execute(
        update(TwoFactor).where(TwoFactor.user_id == user_id, TwoFactor.confirmed_at.is_not(None),
                                or_(TwoFactor.last_used_step.is_(None), TwoFactor.last_used_step < step))
        .values(last_used_step=step).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return taken == 1


def _take_recovery_code(user, code):
    row_id = db.session.execute(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_digest == _digest(user.id, code),
        RecoveryCode.used_at.is_(None))).scalar()
    if row_id is None:
        return False
    taken = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if taken == 1:
        record_event("2fa_recovery_used", "ab_user", user.id, summary=user.username, user=user,
                     details={"left": recovery_codes_left(user)})
    return taken == 1


def verify(user, code):
    """Whether ``code`` is a right second factor of the enrolled ``user`` now: a TOTP code not used
    before, or an unused recovery code (used up). Commits; audits nothing (the caller does)."""
    code = _normal(code)
    if user is None or not code or len(code) > 32:
        return False
    row = _row(user.id)
    if row is None or row.confirmed_at is None:
        return False
    if code.isdigit() and len(code) == 6:
        step = _matching_step(row.secret, code, row.last_used_step)
        return step is not None and _take_step(user.id, step)
    return _take_recovery_code(user, code)


def _new_recovery_codes(user_id):
    """Ten new recovery codes in place of the account's (uncommitted); the plain codes, once."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        plain = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append(f"{plain[:5]}-{plain[5:]}")
        db.session.add(RecoveryCode(user_id=user_id, code_digest=_digest(user_id, plain)))
    return codes


def confirm_enrolment(user, code):
    """Confirm the enrolment begun with the first right code (committed, audited): the recovery
    codes, to show once. Raises TwoFactorRefused naming ``code``."""
    row = _row(user.id)
    if row is None or row.confirmed_at is not None:
        raise TwoFactorRefused({"code": [ALREADY_ENROLLED if row is not None else NOT_ENROLLED]})
    step = _matching_step(row.secret, _normal(code), None)
    if step is None:
        raise TwoFactorRefused({"code": [WRONG_CODE]})
    row.confirmed_at, row.last_used_step = utcnow(), step
    codes = _new_recovery_codes(user.id)
    db.session.commit()
    record_event("2fa_enrolled", "ab_user", user.id, summary=user.username, user=user)
    return codes


def _check_code(user, code):
    if not is_enrolled(user):
        raise TwoFactorRefused({"code": [NOT_ENROLLED]})
    if not verify(user, code):
        record_event("2fa_failed", "ab_user", user.id, summary=user.username, user=user)
        raise TwoFactorRefused({"code": [WRONG_CODE]})


def regenerate_recovery_codes(user, code):
    """New recovery codes in place of the old ones, with a right current code (committed,
    audited); the plain codes, to show once."""
    _check_code(user, code)
    codes = _new_recovery_codes(user.id)
    db.session.commit()
    record_event("2fa_recovery_codes", "ab_user", user.id, summary=user.username, user=user)
    return codes


def recovery_codes_left(user):
    return db.session.execute(select(func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).scalar_one()


def _remove(user_id):
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user_id))


def disable(user, code):
    """Turn one's own second factor off, with a right code, when one's roles do not require it
    (committed, audited)."""
    if required_for(user):
        raise TwoFactorRefused({"code": [STILL_REQUIRED]})
    _check_code(user, code)
    _remove(user.id)
    db.session.commit()
    record_event("2fa_disabled", "ab_user", user.id, summary=user.username, user=user)


def reset(account):
    """Remove ``account``'s second factor (it enrols anew at its next login if its roles require
    it), as the acting person: the command line for any account, a person on a screen for another,
    business account only (raises duties.DutiesRefused). Committed, audited ``2fa_reset``."""
    duties.check_two_factor_reset(account)
    _remove(account.id)
    db.session.commit()
    record_event("2fa_reset", "ab_user", account.id, summary=account.username)
