"""The audit log: ONE session hook records every create, update and delete of every business
model (any path: screen, API, CLI, import, task), plus ``record_event`` for logins, refusals,
exports and reveals. Entries are written in the same transaction as the change (a rollback leaves
none), hash-chained in id order under a lock, and never updated or deleted by the application.
"""
import hashlib
import json
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, get_history

from app import actor
from app.extensions import listen_once
from app.core import policy

GENESIS_HASH = "0" * 64
# PostgreSQL advisory lock key serialising chain appends across processes ("GJAUDIT").
ADVISORY_LOCK_KEY = 0x474A4155444954
_PENDING_KEY = "gongjian_audit_pending"
SKIPPED_COLUMNS = {"created_at", "updated_at"}


# Types that are their own JSON value (exact types: a subclass takes the slower path below).
_PLAIN_TYPES = frozenset((str, int, float, bool, type(None)))


def _jsonable(value):
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _masked(model, column, value):
    """A value as the log keeps it: personal data masked by the field policy."""
    return policy.audit_value(model, column, _jsonable(value))


def _skipped(model):
    return SKIPPED_COLUMNS | getattr(model, "__audit_skipped__", set())


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


def _is_audited(obj):
    return getattr(type(obj), "__audited__", False)


def _before_flush(session, flush_context, instances):
    pending = session.info.setdefault(_PENDING_KEY, [])
    for obj in session.new:
        if _is_audited(obj):
            pending.append(("create", obj, None))
    for obj in session.dirty:
        if not _is_audited(obj):
            continue
        state = inspect(obj)
        if state.committed_state:
            changes = {**_diff(state), **_collection_changes(state)}
            if changes:
                pending.append(("update", obj, changes))
    for obj in session.deleted:
        if _is_audited(obj):
            before = {key: [value, None] for key, value in _snapshot(obj).items()}
            pending.append(("delete", obj, before))


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
                "changes": _CHANGES_JSON.encode(changes),
            }
        )
    append_entries(session.connection(), entries)


def _after_rollback(session):
    session.info.pop(_PENDING_KEY, None)


def _actor_fields(user=None):
    user = user if user is not None else actor.current_user()
    roles = ",".join(sorted(role.name for role in getattr(user, "roles", []) or [])) if user else ""
    return {
        "actor_id": getattr(user, "id", None),
        "actor": getattr(user, "username", None) or ("system" if actor.is_system() else "anonymous"),
        "roles": roles[:200],
        "via": actor.current_via(),
        "client_addr": actor.current_client_addr(),
        "request_id": actor.current_request_id(),
    }


HASHED_FIELDS = (
    "id", "at", "actor_id", "actor", "roles", "via", "client_addr", "request_id", "action",
    "record_type", "record_id", "area_id", "summary", "changes",
)
# Columns of an entry in INSERT order: the hashed fields, then the two links of the chain.
ENTRY_COLUMNS = HASHED_FIELDS + ("prev_hash", "entry_hash")


# Encoders built once (json.dumps builds one per call when given options): the same output as
# json.dumps(changes, ensure_ascii=False, sort_keys=True) and the canonical form below.
_CHANGES_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _canonical(fields):
    """The canonical JSON of an entry's hashed fields (sorted keys, no spaces, UTF-8 text)."""
    return _CANONICAL_JSON.encode({key: _jsonable(fields.get(key)) for key in HASHED_FIELDS})


def entry_hash(prev_hash, fields):
    """SHA-256 of the previous hash and this entry's canonical JSON."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def _canonical_around_id(fields):
    """The canonical JSON cut where the id goes, for PostgreSQL to hash once it knows the id:
    (text up to and including ``"id":``, text after the id). Values are JSON strings, whose
    quotes are escaped, so the only bare ``"id":`` is the key."""
    head, marker, tail = _canonical({**fields, "id": None}).partition('"id":null')
    assert marker, "canonical JSON lacks the id key"
    return head + '"id":', tail


LAST_ENTRY_SQL = "SELECT id, entry_hash FROM audit_log ORDER BY id DESC LIMIT 1"
# PostgreSQL: migration 0010's function takes the lock, reads the chain's last entry (with a
# snapshot taken after the lock) and inserts the next entry, hashed as entry_hash() does from the
# canonical JSON sent in two halves around the id: one statement, one round trip.
PG_APPEND_SQL = (
    "SELECT gongjian_audit_append(CAST(%(at)s AS timestamp), CAST(%(actor_id)s AS integer), %(actor)s, "
    "%(roles)s, %(via)s, %(client_addr)s, %(request_id)s, %(action)s, %(record_type)s, %(record_id)s, "
    "CAST(%(area_id)s AS integer), %(summary)s, %(changes)s, %(json_head)s, %(json_tail)s)"
)
SQLITE_INSERT_SQL = (f"INSERT INTO audit_log ({', '.join(ENTRY_COLUMNS)}) "
                     f"VALUES ({', '.join('?' for _ in ENTRY_COLUMNS)})")


def _lock_chain(connection):
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    # SQLite: the flush already holds the database's single write lock until commit.


def _driver_error(connection, statement, error):
    """A driver error as SQLAlchemy's (IntegrityError, OperationalError, ...), as
    ``connection.execute`` would raise it, for the statements sent straight to the driver."""
    return DBAPIError.instance(statement, None, error, connection.dialect.loaded_dbapi.Error)


@contextmanager
def _driver_cursor(connection, statement):
    """A cursor of the driver itself; its errors come out as SQLAlchemy's, naming ``statement``."""
    cursor = connection.connection.driver_connection.cursor()
    try:
        yield cursor
    except connection.dialect.loaded_dbapi.Error as error:
        raise _driver_error(connection, statement, error) from error
    finally:
        cursor.close()


def _execute_rows(cursor, statement, rows):
    if len(rows) == 1:
        cursor.execute(statement, rows[0])
    else:
        cursor.executemany(statement, rows)


def _new_rows(entries, user):
    """The entries with who, where and when filled in (id and hashes still to come)."""
    from models.base import utcnow

    common = _actor_fields(user)
    at = utcnow().replace(microsecond=0)
    return [{**common, **entry, "at": at} for entry in entries]


def append_entries(connection, entries, user=None):
    """Append entries to the chain inside the caller's transaction.

    This runs on every audited write, so it talks to the driver directly with fixed statement
    strings (SQLAlchemy's statement machinery cost more than the SQL itself) and, on PostgreSQL,
    makes one call instead of three statements (lock, read, insert)."""
    rows = _new_rows(entries, user)
    if connection.dialect.name == "postgresql":
        _append_postgresql(connection, rows)
    else:
        _append_sqlite(connection, rows)


def _append_postgresql(connection, rows):
    """One call of gongjian_audit_append per entry, each chaining on the one before (same
    transaction); several entries go in one round trip (psycopg pipelines executemany)."""
    params = []
    for row in rows:
        head, tail = _canonical_around_id(row)
        params.append({**{key: row.get(key) for key in HASHED_FIELDS if key != "id"},
                       "json_head": head, "json_tail": tail})
    with _driver_cursor(connection, PG_APPEND_SQL) as cursor:
        _execute_rows(cursor, PG_APPEND_SQL, params)


@lru_cache(maxsize=None)
def _bind_processors(dialect):
    """(position, converter) for the entry columns SQLAlchemy converts on this dialect
    (SQLite: datetimes become text in SQLAlchemy's format)."""
    from models import AuditLog

    columns = AuditLog.__table__.c
    processors = [columns[key].type.dialect_impl(dialect).bind_processor(dialect) for key in ENTRY_COLUMNS]
    return tuple((position, process) for position, process in enumerate(processors) if process is not None)


def _append_sqlite(connection, rows):
    """Read the tail and insert, hashing in Python, under SQLite's single write lock: a flush
    already holds it; otherwise (an event with no change before it) BEGIN IMMEDIATE takes it, so
    nobody can append between the read and the insert."""
    processors = _bind_processors(connection.dialect)
    with _driver_cursor(connection, SQLITE_INSERT_SQL) as cursor:
        if not connection.connection.driver_connection.in_transaction:
            cursor.execute("BEGIN IMMEDIATE")
        last = cursor.execute(LAST_ENTRY_SQL).fetchone()
        prev_id, prev_hash = last if last else (0, GENESIS_HASH)
        values = []
        for offset, row in enumerate(rows, start=1):
            row["id"] = prev_id + offset
            row["prev_hash"] = prev_hash
            row["entry_hash"] = prev_hash = entry_hash(prev_hash, row)
            value = [row.get(key) for key in ENTRY_COLUMNS]
            for position, process in processors:
                value[position] = process(value[position])
            values.append(value)
        _execute_rows(cursor, SQLITE_INSERT_SQL, values)


def record_event(action, record_type=None, record_id=None, summary=None, details=None, area_id=None, user=None):
    """Record a non-CRUD event (login, refusal, export, download, reveal) and commit it;
    ``user`` names the actor when it is not (or no longer) the signed-in user (login, logout)."""
    from app.extensions import db

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


def _chain_anchor(connection, table):
    """Where the live chain must start: the genesis, or the seal of the last archived entry.
    Returns (expected first id, expected prev_hash) or None when the log is empty."""
    from models import AuditSeal

    first = connection.execute(select(table.c.id).order_by(table.c.id).limit(1)).first()
    if first is None:
        return None
    seal = connection.execute(
        select(AuditSeal.last_id, AuditSeal.last_hash).order_by(AuditSeal.last_id.desc()).limit(1)).first()
    return (1, GENESIS_HASH) if seal is None else (seal.last_id + 1, seal.last_hash)


def _link_fault(row, prev_id, prev_hash):
    """What is wrong with an entry as the successor of (prev_id, prev_hash), or None. With no
    predecessor (the first line of an archive file) only the entry's own hash is checked."""
    if prev_id is not None and row["id"] != prev_id + 1:
        return "gap"
    if prev_hash is not None and row["prev_hash"] != prev_hash:
        return "broken link"
    if entry_hash(row["prev_hash"], dict(row)) != row["entry_hash"]:
        return "altered"
    return None


def verify_chain(connection, batch=5000):
    """Walk the chain in id order from its anchor (the genesis or the last archive seal).
    Returns (checked_count, first_bad_id or None, reason)."""
    from models import AuditLog

    table = AuditLog.__table__
    anchor = _chain_anchor(connection, table)
    if anchor is None:
        return 0, None, None
    prev_id, prev_hash = anchor[0] - 1, anchor[1]
    checked = 0
    last_id = 0
    while True:
        rows = connection.execute(
            select(table).where(table.c.id > last_id).order_by(table.c.id).limit(batch)
        ).mappings().all()
        if not rows:
            return checked, None, None
        for row in rows:
            fault = _link_fault(row, prev_id, prev_hash)
            if fault is not None:
                return checked, row["id"], fault
            prev_hash, prev_id = row["entry_hash"], row["id"]
            checked += 1
        last_id = rows[-1]["id"]


def _after_soft_rollback(session, previous_transaction):
    _after_rollback(session)


def audit_security_models():
    """Accounts and roles are audited like business records (the password hash never appears;
    login counters, which change on every login, are left to the login entries)."""
    from flask_appbuilder.security.sqla.models import Role, User

    User.__audited__ = True
    User.__audit_skipped__ = {"last_login", "login_count", "fail_login_count", "changed_on", "created_on"}
    Role.__audited__ = True


def install():
    """Register the session hooks."""
    audit_security_models()
    listen_once("before_flush", _before_flush)
    listen_once("after_flush", _after_flush)
    listen_once("after_rollback", _after_rollback)
    listen_once("after_soft_rollback", _after_soft_rollback)


def register_refusal_audit(app):
    """Every permission refusal (403) to a signed-in user, on a screen or the API, is an entry."""
    from flask import request

    @app.after_request
    def _audit_refusal(response):
        if response.status_code == 403 and actor.current_user() is not None:
            from app.extensions import db

            db.session.rollback()
            record_event("denied", summary=f"{request.method} {request.path}"[:300])
        return response


class ArchiveRefused(Exception):
    """The archive would break retention or the chain is already broken."""


def archive_entries(before, out_path, retention_days):
    """Export entries older than ``before`` to ``out_path`` (JSON lines, written to a temporary
    name and renamed when complete), seal them (the last entry's hash and the file's SHA-256),
    log the archive itself, then delete them: the live chain stays verifiable from the seal."""
    import os
    import tempfile
    from datetime import timedelta

    from app.extensions import db
    from models import AuditLog, AuditSeal
    from models.base import utcnow

    if before > utcnow() - timedelta(days=retention_days):
        raise ArchiveRefused(f"entries are kept at least {retention_days} days")
    connection = db.session.connection()
    _lock_chain(connection)
    checked, bad_id, reason = verify_chain(connection)
    if bad_id is not None:
        raise ArchiveRefused(f"the chain is broken at entry {bad_id} ({reason}); nothing archived")
    table = AuditLog.__table__
    last = connection.execute(select(table.c.id, table.c.entry_hash).where(table.c.at < before)
                              .order_by(table.c.id.desc()).limit(1)).first()
    if last is None:
        db.session.rollback()
        return None
    digest = hashlib.sha256()
    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(dir=directory, prefix=".audit-archive-")
    count, first_id = 0, None
    with os.fdopen(handle, "wb") as out:
        for row in connection.execute(select(table).where(table.c.id <= last.id).order_by(table.c.id)).mappings():
            line = (json.dumps({k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False, sort_keys=True)
                    + "\n").encode("utf-8")
            out.write(line)
            digest.update(line)
            first_id = row["id"] if first_id is None else first_id
            count += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp_path, out_path)
    seal = AuditSeal(first_id=first_id, last_id=last.id, last_hash=last.entry_hash, entry_count=count,
                     file_name=os.path.basename(out_path), file_sha256=digest.hexdigest())
    db.session.add(seal)
    db.session.flush()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL gongjian.audit_archive = 'on'"))
    connection.execute(table.delete().where(table.c.id <= last.id))
    append_entries(connection, [{"action": "archive", "record_type": "audit_log", "record_id": str(last.id),
                                 "summary": f"{count} entries to {seal.file_name}",
                                 "changes": json.dumps({"first_id": first_id, "last_id": last.id,
                                                        "sha256": seal.file_sha256}, sort_keys=True)}])
    db.session.commit()
    return seal


def verify_archive(path, seal):
    """Check an archive file against its seal: its SHA-256, and the chain inside it."""
    digest = hashlib.sha256()
    prev_hash, prev_id = None, None
    with open(path, "rb") as handle:
        for line in handle:
            digest.update(line)
            row = json.loads(line)
            if _link_fault(row, prev_id, prev_hash) is not None:
                return False
            prev_hash, prev_id = row["entry_hash"], row["id"]
    return digest.hexdigest() == seal.file_sha256 and prev_id == seal.last_id and prev_hash == seal.last_hash
