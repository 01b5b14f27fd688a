"""Sessions that end: a login session or API token stops working the moment it is ended, not
when it expires.

Two things end sessions, and every request checks both in ONE query:

* **the session's row** (models/user_session.py, app/core/session_registry.py): each screen login
  and API login opens a row. A screen session keeps the row's id and key in the Flask session
  (``session["account_session"]``), an API token carries the row's id as its ``sid`` claim (a
  refresh keeps the id: the new access token belongs to the same session). A row is ended by its
  owner on 我的会话, by the security administrator (强退), or with all the account's rows below;
* **the account's epoch** (models/account_epoch.py, 0 when it has no row): a screen session keeps
  the epoch it was made in (``session["account_epoch"]``), an API token its ``epoch`` claim. The
  epoch moves on — and the account's open rows end with it — at logout, at a lockout, and when
  the account's password, roles, active flag or area change (the session hook ``install`` sees
  every such write, from any screen, API or command).

A token of an account that is locked right now, or deactivated, is refused too. A live session's
``last_seen_at`` is written at most once a minute.
"""
from flask import flash, has_request_context, request
from flask import session as web_session
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext as _
from flask_babel import to_user_timezone
from flask_jwt_extended import get_jwt
from sqlalchemy import and_, select
from sqlalchemy import inspect as sa_inspect

from app.core import session_registry as registry
from app.extensions import db, listen_once
from models.account_epoch import AccountEpoch
from models.base import utcnow
from models.login_guard import LoginGuard
from models.user_scope import UserScope
from models.user_session import UserSession

__all__ = ["EPOCH_CLAIM", "REGISTRY_KEY", "SESSION_CLAIM", "SESSION_KEY", "current_epoch", "current_session_id",
           "end_sessions", "install", "login_details", "remember_in_session", "remember_login",
           "session_is_current", "token_claims", "token_revoked"]

EPOCH_CLAIM = "epoch"
SESSION_CLAIM = "sid"
SESSION_KEY = "account_epoch"
REGISTRY_KEY = "account_session"  # [row id, key] of the screen session's row
# The row the login of this request opened (an API login's access and refresh token share it;
# the login's audit entry names it).
_LOGIN_SESSION = "gongjian_login_session"
# The account's columns whose change ends its sessions (its login counters do not).
ENDING_COLUMNS = ("password", "roles", "active", "username")


def current_epoch(user_id, session=None):
    session = session or db.session
    with session.no_autoflush:
        epoch = session.execute(select(AccountEpoch.epoch).where(AccountEpoch.user_id == user_id)).scalar()
    return epoch or 0


def end_sessions(user_id, session=None, reason="account_change", by=None):
    """Move the account's epoch on and end its open session rows (in the caller's transaction):
    every session and token made before ends. ``by``: who ended them (default: the acting person)."""
    session = session or db.session
    with session.no_autoflush:
        row = session.get(AccountEpoch, user_id)
    if row is None:
        row = AccountEpoch(user_id=user_id, epoch=0)
        session.add(row)
    row.epoch = (row.epoch or 0) + 1
    row.changed_at = utcnow()
    registry.end_open_rows(user_id, reason, by=by, session=session)


# ---- API tokens -------------------------------------------------------------------------------------

def _verified_token():
    """The payload of the token verified in this request (the refresh token at a refresh), or None."""
    if not has_request_context():
        return None
    try:
        return get_jwt()
    except RuntimeError:  # no token verified in this request (a login)
        return None


def _login_session():
    """The session row this request's login opened, if any. Kept in the request's WSGI environ,
    not in ``g``: ``g`` lives as long as the app context, which outlives the request wherever
    one context serves several requests (a test, a CLI command, a task)."""
    return request.environ.get(_LOGIN_SESSION) if has_request_context() else None


def _set_login_session(session_id):
    if has_request_context():
        request.environ.setdefault(_LOGIN_SESSION, session_id)


def _token_session(user_id):
    """The session row an API token is made for: the one this request's login opened (access and
    refresh token of one login share it), the refresh token's at a refresh, else a new row."""
    if _login_session() is not None:
        return _login_session()
    verified = _verified_token() or {}
    if verified.get(SESSION_CLAIM) is not None and str(verified.get("sub")) == str(user_id):
        return verified[SESSION_CLAIM]
    row, _key = registry.open_row(user_id, "api")  # API rows need no key: the signed token names them
    session_id = row.id
    db.session.commit()
    _set_login_session(session_id)
    return session_id


def token_claims(identity):
    """The claims an API token is made with (flask-jwt-extended's additional claims)."""
    user_id = int(identity)
    return {EPOCH_CLAIM: current_epoch(user_id), SESSION_CLAIM: _token_session(user_id)}


def token_revoked(_jwt_header, jwt_payload):
    """Whether an API token (access or refresh) is refused: its session row ended (or missing),
    made in an earlier epoch, or its account is locked now or inactive. One query."""
    try:
        user_id, session_id = int(jwt_payload["sub"]), int(jwt_payload[SESSION_CLAIM])
    except (KeyError, TypeError, ValueError):
        return True
    with db.session.no_autoflush:
        found = db.session.execute(
            select(User.active, AccountEpoch.epoch, LoginGuard.locked_until, UserSession.id, UserSession.via,
                   UserSession.ended_at, UserSession.created_at, UserSession.last_seen_at)
            .select_from(User)
            .outerjoin(AccountEpoch, AccountEpoch.user_id == User.id)
            .outerjoin(LoginGuard, LoginGuard.user_id == User.id)
            .outerjoin(UserSession, and_(UserSession.id == session_id, UserSession.user_id == User.id))
            .where(User.id == user_id)).first()
    if found is None or not found.active or jwt_payload.get(EPOCH_CLAIM) != (found.epoch or 0):
        return True
    now = utcnow()
    if found.locked_until is not None and found.locked_until > now:
        return True
    if found.id is None or found.ended_at is not None or found.via != "api":
        return True
    registry.touch(found.id, found.last_seen_at, now)
    return False


# ---- screen sessions --------------------------------------------------------------------------------

def _say_last_login(previous):
    """After a screen login: when and from where the account's previous login was."""
    if previous is None:
        flash(_("This is the first login of this account"), "info")
        return
    when = to_user_timezone(previous.created_at).strftime("%Y-%m-%d %H:%M:%S")
    flash(_("Last login: %(when)s from %(addr)s", when=when, addr=previous.client_addr or "-"), "info")


def remember_in_session(user_id):
    """A screen login: open a session row, keep its id and key and the account's epoch in the
    Flask session, and tell the person when and from where they last logged in."""
    row, key = registry.open_row(user_id, "web")
    web_session[REGISTRY_KEY] = [row.id, key]
    web_session[SESSION_KEY] = current_epoch(user_id)
    _set_login_session(row.id)
    _say_last_login(registry.previous_login(user_id, before_id=row.id))
    return row


def remember_login(user_id):
    """A successful login (auth_user_db): a screen login is remembered in the Flask session
    (``remember_in_session``); an API login opens its row now, for the tokens about to be made."""
    if not has_request_context():
        return
    if not request.path.startswith("/api/"):
        remember_in_session(user_id)
    else:
        row, _key = registry.open_row(user_id, "api")  # API rows need no key: the signed token names them
        _set_login_session(row.id)


def login_details(**extra):
    """The ``details`` of a login event: the user agent, and the session row a login opened."""
    return registry.client_details(session=_login_session(), **extra)


def current_session_id():
    """The id of the signed-in screen session's row, or None."""
    remembered = web_session.get(REGISTRY_KEY)
    return remembered[0] if isinstance(remembered, list) and len(remembered) == 2 else None


def session_is_current(user_id):
    """Whether the signed-in screen session is still open: its row is the account's, matches the
    cookie's key and is not ended or idle too long, and the account's epoch is the one it was made
    in. One query (the row joined to the epoch)."""
    remembered = web_session.get(REGISTRY_KEY)
    if not (isinstance(remembered, list) and len(remembered) == 2 and isinstance(remembered[0], int)):
        return False
    session_id, key = remembered
    with db.session.no_autoflush:
        found = db.session.execute(
            select(UserSession.user_id, UserSession.key_digest, UserSession.via, UserSession.ended_at,
                   UserSession.created_at, UserSession.last_seen_at, AccountEpoch.epoch)
            .outerjoin(AccountEpoch, AccountEpoch.user_id == UserSession.user_id)
            .where(UserSession.id == session_id)).first()
    if (found is None or found.user_id != user_id or found.ended_at is not None
            or not registry.key_matches(found.key_digest, key)
            or web_session.get(SESSION_KEY) != (found.epoch or 0)):
        return False
    now = utcnow()
    if registry.is_stale(found.via, found.created_at, found.last_seen_at, now):
        row = db.session.get(UserSession, session_id)
        registry.end_row(row, "expired", by="")
        db.session.commit()
        return False
    registry.touch(session_id, found.last_seen_at, now)
    return True


# ---- the session hook -------------------------------------------------------------------------------

def _ending_change(obj, session):
    if isinstance(obj, User):
        if obj in session.new:
            return None
        state = sa_inspect(obj)
        changed = any(state.attrs[name].history.has_changes() for name in ENDING_COLUMNS)
        return obj.id if changed and obj not in session.deleted else None
    if isinstance(obj, UserScope) and (obj in session.new or obj in session.deleted or session.is_modified(obj)):
        return obj.user.id if obj.user is not None else obj.user_id
    return None


def end_sessions_on_account_change(session, flush_context, instances):
    """Session hook: a write changing an account's password, roles, active flag or area ends
    its sessions (a removed account's rows go with it: app/core/account_rows.py)."""
    removed = {obj.id for obj in session.deleted if isinstance(obj, User) and obj.id is not None}
    ended = {_ending_change(obj, session) for obj in list(session.dirty) + list(session.new) + list(session.deleted)}
    for user_id in sorted(ended - {None} - removed):
        end_sessions(user_id, session)


def install():
    """Register the session hook."""
    listen_once("before_flush", end_sessions_on_account_change)
