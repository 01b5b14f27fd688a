"""The server-side registry of login sessions (models/user_session.py): opening a row at each
screen or API login, ending one or all of an account's rows, the open rows a page lists, the
previous login (for the "last login" notice) and a device in plain words from a user agent.

The per-request check that reads a row lives in app/core/sessions.py, with the account epoch it
is read together with (one query per request).
"""
import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from flask import current_app, has_request_context, request
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import contains_eager

from app.core import actor
from app.extensions import db
from models.base import utcnow
from models.user_session import UserSession

__all__ = ["SEEN_EVERY", "USER_AGENT_LENGTH", "client_details", "device", "digest", "end_open_rows", "end_row",
           "expire_stale", "is_stale", "key_matches", "open_row", "open_rows", "previous_login", "touch"]

# last_seen_at is written at most this often per session: a write on every request would cost
# more than the page (and the list shows minutes, not seconds).
SEEN_EVERY = timedelta(minutes=1)
USER_AGENT_LENGTH = 300


def digest(key):
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_matches(stored_digest, key):
    """Whether ``key`` (from the cookie) is the one whose digest the row keeps (constant time)."""
    return bool(key) and isinstance(key, str) and hmac.compare_digest(stored_digest, digest(key))


def _user_agent():
    if not has_request_context():
        return None
    return (request.user_agent.string or "")[:USER_AGENT_LENGTH] or None


def _client_addr():
    return request.remote_addr if has_request_context() else None


def client_details(**extra):
    """The ``details`` of a login event: the client's user agent (the login log shows it)."""
    details = {key: value for key, value in extra.items() if value is not None}
    agent = _user_agent()
    if agent:
        details.setdefault("user_agent", agent)
    return details


def open_row(user_id, via):
    """A new open session of the account, in the caller's transaction (flushed: it has its id).
    Returns (row, key); the key goes to the cookie, only its digest to the database."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(user_id=user_id, key_digest=digest(key), via=via, created_at=now, last_seen_at=now,
                      client_addr=_client_addr(), user_agent=_user_agent())
    db.session.add(row)
    db.session.flush()
    return row, key


def _acting_username():
    person = actor.current_user()
    return getattr(person, "username", None)


def end_row(row, reason, by=None):
    """End one session (no commit). ``by``: who ended it (default: the acting person)."""
    row.ended_at = utcnow()
    row.end_reason = reason
    row.ended_by = (by if by is not None else _acting_username() or "")[:64] or None


def end_open_rows(user_id, reason, by=None, session=None, keep=None):
    """End every open session of the account but ``keep`` (a row id), in the caller's transaction
    (a flush hook may call it). Returns the ended rows."""
    session = session or db.session
    with session.no_autoflush:
        rows = session.execute(select(UserSession).where(
            UserSession.user_id == user_id, UserSession.ended_at.is_(None))).scalars().all()
    ended = [row for row in rows if row.id != keep]
    for row in ended:
        end_row(row, reason, by)
    return ended


def _lifetimes():
    config = current_app.config
    web = config.get("PERMANENT_SESSION_LIFETIME") or timedelta(minutes=30)
    if not isinstance(web, timedelta):
        web = timedelta(seconds=web)
    api = config.get("JWT_REFRESH_TOKEN_EXPIRES") or timedelta(hours=12)
    return web, api


def is_stale(via, created_at, last_seen_at, now=None):
    """Whether a session can no longer be used: a screen session idle longer than the cookie
    lives (plus the minute last_seen_at may lag), an API session older than its refresh token."""
    now = now or utcnow()
    web, api = _lifetimes()
    if via == "api":
        return created_at + api < now
    return last_seen_at + web + SEEN_EVERY < now


def expire_stale(now=None):
    """Mark the open sessions nobody can use any more ended ('expired'); before a list is shown,
    so it lists only live sessions."""
    now = now or utcnow()
    web, api = _lifetimes()
    changed = db.session.execute(
        update(UserSession)
        .where(UserSession.ended_at.is_(None), or_(
            and_(UserSession.via == "api", UserSession.created_at < now - api),
            and_(UserSession.via != "api", UserSession.last_seen_at < now - web - SEEN_EVERY)))
        .values(ended_at=now, end_reason="expired")
        .execution_options(synchronize_session=False)).rowcount
    if changed:
        db.session.commit()
    return changed


def open_rows(user_id=None):
    """The open sessions (of one account, or everyone's), most recently seen first."""
    expire_stale()
    # Joined to the account: a row left by an account removed where foreign keys are not
    # enforced (SQLite) is nobody's session.
    query = select(UserSession).join(User, User.id == UserSession.user_id).where(UserSession.ended_at.is_(None))
    if user_id is not None:
        query = query.where(UserSession.user_id == user_id)
    query = query.options(contains_eager(UserSession.user))  # the accounts come with the rows: no query per row
    return db.session.execute(query.order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())).scalars().all()


def previous_login(user_id, before_id=None):
    """The account's latest session opened before ``before_id`` (its previous successful login),
    or None for a first login."""
    query = select(UserSession).where(UserSession.user_id == user_id)
    if before_id is not None:
        query = query.where(UserSession.id < before_id)
    return db.session.execute(query.order_by(UserSession.id.desc()).limit(1)).scalars().first()


def touch(session_id, last_seen_at, now=None):
    """Note that the session was used, at most once a minute (SEEN_EVERY)."""
    now = now or utcnow()
    if last_seen_at is not None and now - last_seen_at < SEEN_EVERY:
        return
    db.session.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
                       .execution_options(synchronize_session=False))
    db.session.commit()


# ---- a device in plain words ----------------------------------------------------------------------
# (pattern, name), first match wins: Edge and Opera say "Chrome" too, Chrome says "Safari".
BROWSERS = [(r"MicroMessenger", "WeChat"), (r"Edg(e|A|iOS)?/", "Edge"), (r"OPR/|Opera", "Opera"),
            (r"Firefox/|FxiOS/", "Firefox"), (r"Chrome/|CriOS/", "Chrome"), (r"Safari/", "Safari"),
            (r"MSIE |Trident/", "Internet Explorer"), (r"curl/", "curl"), (r"python-requests|httpx|aiohttp", "Python"),
            (r"Werkzeug", "Werkzeug")]
SYSTEMS = [(r"Windows", "Windows"), (r"iPhone|iPad|iPod", "iOS"), (r"Android", "Android"),
           (r"Mac OS X|Macintosh", "macOS"), (r"CrOS", "ChromeOS"), (r"Linux", "Linux")]


def device(user_agent):
    """"Chrome · Windows" from a user agent; "" when it says nothing we know."""
    if not user_agent:
        return ""
    browser = next((name for pattern, name in BROWSERS if re.search(pattern, user_agent)), None)
    system = next((name for pattern, name in SYSTEMS if re.search(pattern, user_agent)), None)
    return " · ".join(part for part in (browser, system) if part) or user_agent[:40]
