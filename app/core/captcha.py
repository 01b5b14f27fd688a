"""The login captcha, self-contained (no outside service): after repeated failed logins from one
client address or for one user name, the login form and the API login ask for the characters of
an image before the password is even checked.

* :func:`required` — whether a login must answer one: the failed logins (``login_failed`` and
  ``captcha_failed`` entries of the audit log, which keeps the user name and the address) within
  the lockout window, after the last successful login of that name or from that address, reach
  the setting ``captcha_after_failures`` (3). Off while ``CAPTCHA_ENABLED`` is false (the
  default of the testing environment, like the login throttle).
* :func:`issue` — a new challenge: its id and its image (a PNG ``data:`` URI drawn by the
  ``captcha`` package). The server keeps only an HMAC of the answer (models/password_record.py
  ``captcha_challenge``), for five minutes.
* :func:`verify` — the answer to a challenge; the challenge is gone after its first answer, right
  or wrong (single use), and an expired one is never right.

The login screen keeps the id of its challenge in the browser's session (another browser cannot
answer it); an API client gets one from GET /api/v1/security/captcha and sends its id back.
Tests may make the answer predictable (``GONGJIAN_TESTING_CAPTCHA``, read only when the app is
testing): :func:`testing_answer` tells it from the id.
"""
import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

from captcha.image import ImageCaptcha
from flask import current_app
from sqlalchemy import delete, func, select

from app.core.calendar import utcnow
from app.extensions import db
from models import DEFAULT_SETTINGS, AuditLog, CaptchaChallenge, Setting

__all__ = ["FAILED_ACTIONS", "enabled", "failures", "issue", "required", "testing_answer", "verify"]

ALPHABET = "ABCDEFHJKLMNPRSTUVWXY2345678"  # no look-alikes (0/O, 1/I, 9/g, Z/2...)
LENGTH = 5
LIFETIME = timedelta(minutes=5)
FAILED_ACTIONS = ("login_failed", "captcha_failed")


def enabled():
    config = current_app.config
    return bool(config.get("CAPTCHA_ENABLED", config.get("GONGJIAN_ENV") != "testing"))


def threshold():
    """The setting ``captcha_after_failures``: 1 at least; the shipped 3 if it is not a number."""
    value = db.session.execute(select(Setting.value).where(Setting.key == "captcha_after_failures")).scalar()
    try:
        return max(1, int(str(value).strip()))
    except (TypeError, ValueError):
        return int(DEFAULT_SETTINGS["captcha_after_failures"][0])


def _window():
    return timedelta(minutes=current_app.config.get("LOCKOUT_WINDOW_MINUTES", 15))


def _failures_matching(criterion, since):
    last_success = db.session.execute(
        select(func.max(AuditLog.at)).where(AuditLog.action == "login", AuditLog.at >= since, criterion)).scalar()
    return db.session.execute(
        select(func.count(AuditLog.id)).where(AuditLog.action.in_(FAILED_ACTIONS), criterion,
                                              AuditLog.at >= since, AuditLog.at > (last_success or since))
    ).scalar_one()


def failures(username=None, addr=None):
    """The most failed logins in the window for the user name or from the address."""
    since = utcnow() - _window()
    counts = [0]
    if username:
        counts.append(_failures_matching(AuditLog.summary == username[:64], since))
    if addr:
        counts.append(_failures_matching(AuditLog.client_addr == addr[:64], since))
    return max(counts)


def required(username=None, addr=None):
    """Whether a login for ``username`` from ``addr`` must answer a captcha first."""
    return enabled() and failures(username, addr) >= threshold()


def _digest(captcha_id, answer):
    key = current_app.config["SECRET_KEY"].encode()
    message = f"{captcha_id}:{(answer or '').strip().upper()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _testing():
    return current_app.testing and bool(current_app.config.get("GONGJIAN_TESTING_CAPTCHA"))


def testing_answer(captcha_id):
    """The answer of a challenge while the app is testing with GONGJIAN_TESTING_CAPTCHA on."""
    if not _testing():
        raise RuntimeError("captcha answers are predictable only in tests (GONGJIAN_TESTING_CAPTCHA)")
    seed = hashlib.sha256(captcha_id.encode()).digest()
    return "".join(ALPHABET[byte % len(ALPHABET)] for byte in seed[:LENGTH])


def issue():
    """A new challenge, committed: (its id, its image as a ``data:image/png`` URI)."""
    now = utcnow()
    db.session.execute(delete(CaptchaChallenge).where(CaptchaChallenge.expires_at < now))
    captcha_id = secrets.token_urlsafe(24)
    text = testing_answer(captcha_id) if _testing() else "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    db.session.add(CaptchaChallenge(id=captcha_id, answer_digest=_digest(captcha_id, text),
                                    expires_at=now + LIFETIME))
    db.session.commit()
    png = ImageCaptcha(width=180, height=64).generate(text, format="png").getvalue()
    return captcha_id, "data:image/png;base64," + base64.b64encode(png).decode()


def verify(captcha_id, answer):
    """Whether ``answer`` is the answer of challenge ``captcha_id``, still valid; the challenge is
    used up either way (committed)."""
    if not isinstance(captcha_id, str) or not captcha_id or len(captcha_id) > 64:
        return False
    row = db.session.get(CaptchaChallenge, captcha_id)
    if row is None:
        return False
    digest, expires_at = row.answer_digest, row.expires_at
    # Whoever deletes it answers it: two requests racing with one challenge cannot both pass.
    taken = db.session.execute(delete(CaptchaChallenge).where(CaptchaChallenge.id == captcha_id)).rowcount
    db.session.commit()
    if taken != 1 or expires_at <= utcnow() or not isinstance(answer, str):
        return False
    return hmac.compare_digest(digest, _digest(captcha_id, answer))
