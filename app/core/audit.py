"""The audit log's entries: ONE session hook records every create, update and delete of every
business model (any path: screen, API, CLI, import, task), plus ``record_event`` for logins,
refusals, exports and reveals. Entries are written in the same transaction as the change (a
rollback leaves none) and appended to the hash chain (app/core/audit_chain.py); the application
never updates or deletes them.
"""
import json

from flask import request
from sqlalchemy import inspect
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, get_history

from app.core import actor, policy
from app.core.audit_chain import CHANGES_JSON, append_entries, jsonable
from app.extensions import db, listen_once
from models.base import BusinessModel

_PENDING_KEY = "gongjian_audit_pending"
# A record's next update entry named otherwise than "update" (an approval: ``name_next_update``).
_ACTION_KEY = "gongjian_audit_action"
SKIPPED_COLUMNS = {"created_at", "updated_at"}
# Columns a table's entries leave out besides: an account's login counters change on every login
# and are told by the login entries instead (the password hash is masked by the field policy).
SKIPPED_BY_TABLE = {"ab_user": {"last_login", "login_count", "fail_login_count", "changed_on", "created_on"}}

# Every business record (``BusinessModel``) is audited, and so are accounts and roles: they decide
# who may do what (the password hash never appears; the login counters: ``SKIPPED_BY_TABLE``).
AUDITED_SECURITY_TABLES = {"ab_user", "ab_role"}
# The application's tables that are not business records: never audited (tests/test_audit.py
# checks that every other table of the models package is a ``BusinessModel``).
NEVER_AUDITED = {
    "account_epoch",  # sessions ended: told by the logout, lockout and account change entries
    "audit_log",  # the log itself: append-only, chained by app/core/audit_chain.py
    "audit_seal",  # the seal of archived entries: the archive logs itself as an "archive" entry
    "export_job",  # requests and downloads are events of their own; progress updates are not changes
    "login_guard",  # failed-login counting: told by the login and lockout events instead
    "reminder_delivery",  # high-volume system bookkeeping of the reminders sent
    "notification",  # per-user in-app messages, written and read by the system
    "user_session",  # login sessions: told by the login, logout and session entries
    "account_password",  # a password's age and forced change: told by the password_changed entries
    "password_history",  # earlier password hashes: hashes never reach the log
    "captcha_challenge",  # a captcha's expected answer (as an HMAC), used once: told by captcha_failed
    "two_factor",  # a TOTP secret must never reach the log: told by the 2fa_* entries
    "recovery_code",  # recovery codes (as HMACs), used once: told by the 2fa_* entries
}


def _masked(model, column, value):
    """A value as the log keeps it: personal data masked by the field policy."""
    return policy.audit_value(model, column, jsonable(value))


def _skipped(model):
    return SKIPPED_COLUMNS | SKIPPED_BY_TABLE.get(model.__tablename__, set())


def _column_attrs(obj):
    skipped = _skipped(type(obj))
    return [attr for attr in inspect(obj).mapper.column_attrs if attr.key not in skipped]


def _history(state, key):
    """An attribute's pre-flush history, loading nothing: what ``state.attrs[key].history``
    returns, without ``state.attrs`` first building a view of every attribute of the object."""
    return get_history(state.obj(), key, passive=PASSIVE_NO_INITIALIZE)


def _collection_changes(state):
    """Changed to-many links (a user's roles, a meeting's units): [removed, added] by name.
    Only attributes in ``committed_state`` can have any: SQLAlchemy derives a collection's
    history from the original it keeps there, so the other relationships need no look."""
    relationships = state.mapper.relationships
    skipped = _skipped(state.class_)
    changes = {}
    for key in state.committed_state:
        rel = relationships.get(key)
        if rel is None or not rel.uselist or rel.viewonly or key in skipped:
            continue
        history = _history(state, key)
        if history.added or history.deleted:
            changes[key] = [sorted(str(item) for item in history.deleted),
                            sorted(str(item) for item in history.added)]
    return changes


def _snapshot(obj):
    return {attr.key: _masked(type(obj), attr.key, getattr(obj, attr.key)) for attr in _column_attrs(obj)}


def _diff(state):
    """Changed columns as {column: [before, after]}, from the attributes the session saw
    change (``committed_state``) rather than by asking every column for its history."""
    model = state.class_
    columns = state.mapper.column_attrs
    skipped = _skipped(model)
    changes = {}
    for key in state.committed_state:
        if key in skipped or key not in columns:
            continue
        history = _history(state, key)
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if before != after:
            changes[key] = [_masked(model, key, before), _masked(model, key, after)]
    return changes


def is_audited(model):
    """Whether the audit log records the creates, updates and deletes of ``model``'s rows."""
    table = getattr(model, "__tablename__", None)
    if table in AUDITED_SECURITY_TABLES:
        return True
    return issubclass(model, BusinessModel) and table not in NEVER_AUDITED


def _is_audited(obj):
    return is_audited(type(obj))


def _before_flush(session, flush_context, instances):
    pending = session.info.setdefault(_PENDING_KEY, [])
    for obj in session.new:
        if _is_audited(obj):
            pending.append(("create", obj, None))
    for obj in session.dirty:
        if not _is_audited(obj):
            continue
        state = inspect(obj)
        action = state.info.pop(_ACTION_KEY, "update")
        if state.committed_state:
            changes = {**_diff(state), **_collection_changes(state)}
            if changes:
                pending.append((action, obj, changes))
    for obj in session.deleted:
        if _is_audited(obj):
            before = {key: [value, None] for key, value in _snapshot(obj).items()}
            pending.append(("delete", obj, before))


def name_next_update(obj, action):
    """Record the next flushed change of ``obj`` as ``action`` (e.g. "approve") instead of
    "update": one entry, with its before and after, that says what the change was. ``action``
    None: "update" again (the change was not made)."""
    info = inspect(obj).info
    if action is None:
        info.pop(_ACTION_KEY, None)
    else:
        info[_ACTION_KEY] = action


def _after_flush(session, flush_context):
    pending = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    entries = []
    for action, obj, changes in pending:
        if action == "create":
            changes = {key: [None, value] for key, value in _snapshot(obj).items() if value is not None}
            changes.update(_collection_changes(inspect(obj)))
        entries.append(
            {
                "action": action,
                "record_type": type(obj).__tablename__,
                "record_id": str(obj.id),
                "area_id": getattr(obj, "area_id", None),
                "summary": str(obj)[:300],
                "changes": CHANGES_JSON.encode(changes),
            }
        )
    append_entries(session.connection(), entries)


def _after_rollback(session):
    session.info.pop(_PENDING_KEY, None)


def _after_soft_rollback(session, previous_transaction):
    _after_rollback(session)


def record_event(action, record_type=None, record_id=None, summary=None, details=None, area_id=None, user=None):
    """Record a non-CRUD event (login, refusal, export, download, reveal) and commit it;
    ``user`` names the actor when it is not (or no longer) the signed-in user (login, logout)."""
    entry = {
        "action": action,
        "record_type": record_type,
        "record_id": None if record_id is None else str(record_id),
        "area_id": area_id,
        "summary": (summary or "")[:300],
        "changes": json.dumps(details or {}, ensure_ascii=False, sort_keys=True),
    }
    append_entries(db.session.connection(), [entry], user=user)
    db.session.commit()


def install():
    """Register the session hooks."""
    listen_once("before_flush", _before_flush)
    listen_once("after_flush", _after_flush)
    listen_once("after_rollback", _after_rollback)
    listen_once("after_soft_rollback", _after_soft_rollback)


def register_refusal_audit(app):
    """Every permission refusal (403) to a signed-in user, on a screen or the API, is an entry."""

    @app.after_request
    def _audit_refusal(response):
        if response.status_code == 403 and actor.current_user() is not None:
            db.session.rollback()
            record_event("denied", summary=f"{request.method} {request.path}"[:300])
        return response
