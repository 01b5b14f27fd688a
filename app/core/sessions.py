"""Sessions that end: a login session or API token stops working the moment the account's
sessions are ended, not when it expires.

Each account has an epoch (models/account_epoch.py, 0 when it has no row). A screen session
keeps the epoch it was made in (``session["account_epoch"]``), an API token carries it as its
``epoch`` claim; either is refused once the account's epoch moved on. The epoch moves on:

* at logout (the old session cookie, a copy of it, and every API token of the account end);
* at a lockout;
* when the account's password, roles or active flag change, or its area (scope row) does —
  the session hook ``install`` sees every such write, from any screen, API or command.

A token of an account that is locked right now, or deactivated, is refused too.
"""
from flask import session as web_session
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from app.extensions import db, listen_once
from models.account_epoch import AccountEpoch
from models.base import utcnow
from models.login_guard import LoginGuard
from models.user_scope import UserScope

__all__ = ["EPOCH_CLAIM", "SESSION_KEY", "current_epoch", "end_sessions", "install", "remember_in_session",
           "session_is_current", "token_claims", "token_revoked"]

EPOCH_CLAIM = "epoch"
SESSION_KEY = "account_epoch"
# The account's columns whose change ends its sessions (its login counters do not).
ENDING_COLUMNS = ("password", "roles", "active", "username")


def current_epoch(user_id, session=None):
    session = session or db.session
    with session.no_autoflush:
        epoch = session.execute(select(AccountEpoch.epoch).where(AccountEpoch.user_id == user_id)).scalar()
    return epoch or 0


def end_sessions(user_id, session=None):
    """Move the account's epoch on (in the caller's transaction): every session and token made
    before ends."""
    session = session or db.session
    with session.no_autoflush:
        row = session.get(AccountEpoch, user_id)
    if row is None:
        row = AccountEpoch(user_id=user_id, epoch=0)
        session.add(row)
    row.epoch = (row.epoch or 0) + 1
    row.changed_at = utcnow()


def token_claims(identity):
    """The claims an API token is made with (flask-jwt-extended's additional claims)."""
    return {EPOCH_CLAIM: current_epoch(int(identity))}


def token_revoked(_jwt_header, jwt_payload):
    """Whether an API token (access or refresh) is refused: made in an earlier epoch, or its
    account is locked now or inactive."""
    try:
        user_id = int(jwt_payload["sub"])
    except (KeyError, TypeError, ValueError):
        return True
    if jwt_payload.get(EPOCH_CLAIM) != current_epoch(user_id):
        return True
    guard = db.session.get(LoginGuard, user_id)
    if guard is not None and guard.locked_until is not None and guard.locked_until > utcnow():
        return True
    account = db.session.get(User, user_id)
    return account is None or not account.active


def remember_in_session(user_id):
    """A screen login: the session keeps the account's epoch."""
    web_session[SESSION_KEY] = current_epoch(user_id)


def session_is_current(user_id):
    """Whether the signed-in screen session was made in the account's current epoch."""
    return web_session.get(SESSION_KEY) == current_epoch(user_id)


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
    its sessions."""
    ended = {_ending_change(obj, session) for obj in list(session.dirty) + list(session.new) + list(session.deleted)}
    for user_id in sorted(ended - {None}):
        end_sessions(user_id, session)


def install():
    """Register the session hook."""
    listen_once("before_flush", end_sessions_on_account_change)
