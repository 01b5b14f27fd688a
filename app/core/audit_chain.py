"""The audit log's chain: every entry carries a keyed MAC (HMAC-SHA256) of the entry before it
and of its own canonical JSON, under a key kept outside the database (app/core/audit_keys.py),
whose id the entry records. An entry changed, removed or slipped in breaks the chain at that
point, and someone holding the database but not the key cannot compute a chain that verifies.
Entries written before the key came (migration 0017) carry no key id and the plain SHA-256 of the
same text; they may only come before the first keyed entry.

:func:`append_entries` adds entries in id order under a lock (PostgreSQL: an advisory lock taken
by migration 0017's function; SQLite: the database's single write lock), :func:`verify_chain` walks
the live chain from its anchor, :func:`archive_entries` moves old entries to a sealed file and
:func:`verify_archive` checks such a file against its seal. The session hooks that build the
entries are in app/core/audit.py.
"""
import hashlib
import hmac
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from flask_babel import gettext as _
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app.core import actor, audit_keys
from app.core.calendar import utcnow
from app.core.refusals import RecordInvalid
from app.extensions import db
from models import AuditLog, AuditSeal

GENESIS_HASH = "0" * 64
# PostgreSQL advisory lock key serialising chain appends across processes ("GJAUDIT").
ADVISORY_LOCK_KEY = 0x474A4155444954
# Types that are their own JSON value (exact types: a subclass takes the slower path below).
_PLAIN_TYPES = frozenset((str, int, float, bool, type(None)))


def jsonable(value):
    """A value as JSON keeps it: dates in ISO form, decimals as text, anything else as text."""
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _actor_fields(user=None):
    """Who, through what and from where: the acting user (or ``user``) of the entries."""
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
# Columns of an entry in INSERT order: the hashed fields, the key's id, the two links of the chain.
ENTRY_COLUMNS = HASHED_FIELDS + ("key_id", "prev_hash", "entry_hash")


# Encoders built once (json.dumps builds one per call when given options): the same output as
# json.dumps(changes, ensure_ascii=False, sort_keys=True) and the canonical form below.
CHANGES_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _canonical(fields):
    """The canonical JSON of an entry's hashed fields (sorted keys, no spaces, UTF-8 text); a
    keyed entry's key id is part of it, so it cannot be swapped for another key's."""
    canonical = {key: jsonable(fields.get(key)) for key in HASHED_FIELDS}
    if fields.get("key_id"):
        canonical["key_id"] = fields["key_id"]
    return _CANONICAL_JSON.encode(canonical)


class UnknownKey(LookupError):
    """An entry names a key the key ring does not hold."""


def entry_hash(prev_hash, fields, ring=None):
    """The entry's link: HMAC-SHA256 under its key of the previous link and its canonical JSON
    (the plain SHA-256 of the same text for an entry written before keys)."""
    message = (prev_hash + _canonical(fields)).encode("utf-8")
    key_id = fields.get("key_id")
    if not key_id:
        return hashlib.sha256(message).hexdigest()
    key = (ring or audit_keys.keyring()).key(key_id)
    if key is None:
        raise UnknownKey(key_id)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


LAST_ENTRY_SQL = "SELECT id, entry_hash FROM audit_log ORDER BY id DESC LIMIT 1"
# PostgreSQL: migration 0017's function takes the chain's advisory lock and then reads the last
# entry (a statement of a VOLATILE function takes its snapshot after the lock, so it sees every
# entry committed before): one round trip. The entries are then hashed here, where the key is.
PG_TAIL_SQL = "SELECT last_id, last_hash FROM gongjian_audit_tail()"
INSERT_SQL = (f"INSERT INTO audit_log ({', '.join(ENTRY_COLUMNS)}) "
              f"VALUES ({', '.join(f'%({key})s' for key in ENTRY_COLUMNS)})")
SQLITE_INSERT_SQL = (f"INSERT INTO audit_log ({', '.join(ENTRY_COLUMNS)}) "
                     f"VALUES ({', '.join('?' for _ in ENTRY_COLUMNS)})")


def _lock_chain(connection):
    """Hold the chain until the transaction ends: nobody appends meanwhile."""
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
    """The entries with who, where, when and under which key filled in (id and links to come)."""
    common = _actor_fields(user)
    at = utcnow().replace(microsecond=0)
    return [{**common, **entry, "at": at} for entry in entries]


def _link_rows(rows, prev_id, prev_hash):
    """Number the rows after (prev_id, prev_hash) and chain each on the one before, under the
    current key."""
    ring = audit_keys.keyring()
    for offset, row in enumerate(rows, start=1):
        row["id"] = prev_id + offset
        row["key_id"] = ring.current_id
        row["prev_hash"] = prev_hash
        row["entry_hash"] = prev_hash = entry_hash(prev_hash, row, ring)
    return rows


def append_entries(connection, entries, user=None):
    """Append entries to the chain inside the caller's transaction.

    This runs on every audited write, so it talks to the driver directly with fixed statement
    strings (SQLAlchemy's statement machinery cost more than the SQL itself) and, on PostgreSQL,
    takes the lock and reads the tail in one call."""
    rows = _new_rows(entries, user)
    if connection.dialect.name == "postgresql":
        _append_postgresql(connection, rows)
    else:
        _append_sqlite(connection, rows)


def _append_postgresql(connection, rows):
    """Lock and read the tail (one call), then insert the chained entries (one round trip:
    psycopg pipelines executemany)."""
    with _driver_cursor(connection, PG_TAIL_SQL) as cursor:
        cursor.execute(PG_TAIL_SQL)
        prev_id, prev_hash = cursor.fetchone()
    _link_rows(rows, prev_id or 0, prev_hash or GENESIS_HASH)
    values = [{key: row.get(key) for key in ENTRY_COLUMNS} for row in rows]
    with _driver_cursor(connection, INSERT_SQL) as cursor:
        _execute_rows(cursor, INSERT_SQL, values)


@lru_cache(maxsize=None)
def _bind_processors(dialect):
    """(position, converter) for the entry columns SQLAlchemy converts on this dialect
    (SQLite: datetimes become text in SQLAlchemy's format)."""
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
        for row in _link_rows(rows, prev_id, prev_hash):
            value = [row.get(key) for key in ENTRY_COLUMNS]
            for position, process in processors:
                value[position] = process(value[position])
            values.append(value)
        _execute_rows(cursor, SQLITE_INSERT_SQL, values)


def _chain_anchor(connection, table):
    """Where the live chain must start: the genesis, or the seal of the last archived entry.
    Returns (expected first id, expected prev_hash) or None when the log is empty."""
    first = connection.execute(select(table.c.id).order_by(table.c.id).limit(1)).first()
    if first is None:
        return None
    seal = connection.execute(
        select(AuditSeal.last_id, AuditSeal.last_hash).order_by(AuditSeal.last_id.desc()).limit(1)).first()
    return (1, GENESIS_HASH) if seal is None else (seal.last_id + 1, seal.last_hash)


def _link_fault(row, prev_id, prev_hash, ring=None, keyed_before=False):
    """What is wrong with an entry as the successor of (prev_id, prev_hash), or None. With no
    predecessor (the first line of an archive file) only the entry's own link is checked. After
    a keyed entry (``keyed_before``) an entry without a key is a forgery: whoever wrote it could
    not compute the MAC."""
    if prev_id is not None and row["id"] != prev_id + 1:
        return "gap"
    if prev_hash is not None and row["prev_hash"] != prev_hash:
        return "broken link"
    if keyed_before and not row.get("key_id"):
        return "unkeyed"
    try:
        expected = entry_hash(row["prev_hash"], dict(row), ring)
    except UnknownKey:
        return "unknown key"
    if not hmac.compare_digest(expected, row["entry_hash"]):
        return "altered"
    return None


def verify_chain(connection, batch=5000):
    """Walk the chain in id order from its anchor (the genesis or the last archive seal).
    Returns (checked_count, first_bad_id or None, reason). It does not see a cut tail: the
    checkpoints do (app/core/audit_checkpoint.py)."""
    table = AuditLog.__table__
    anchor = _chain_anchor(connection, table)
    if anchor is None:
        return 0, None, None
    ring = audit_keys.keyring()
    prev_id, prev_hash = anchor[0] - 1, anchor[1]
    keyed_before = False
    checked = 0
    last_id = 0
    while True:
        rows = connection.execute(
            select(table).where(table.c.id > last_id).order_by(table.c.id).limit(batch)
        ).mappings().all()
        if not rows:
            return checked, None, None
        for row in rows:
            fault = _link_fault(row, prev_id, prev_hash, ring, keyed_before)
            if fault is not None:
                return checked, row["id"], fault
            prev_hash, prev_id = row["entry_hash"], row["id"]
            keyed_before = keyed_before or bool(row["key_id"])
            checked += 1
        last_id = rows[-1]["id"]


class ArchiveRefused(RecordInvalid):
    """The archive would break retention (``before``) or the chain is already broken (``chain``)."""


def archive_entries(before, out_path, retention_days):
    """Export entries older than ``before`` to ``out_path`` (JSON lines, written to a temporary
    name and renamed when complete), seal them (the last entry's hash and the file's SHA-256),
    log the archive itself, then delete them: the live chain stays verifiable from the seal."""
    if before > utcnow() - timedelta(days=retention_days):
        raise ArchiveRefused({"before": [_("Entries are kept at least %(days)d days", days=retention_days)]})
    connection = db.session.connection()
    _lock_chain(connection)
    checked, bad_id, reason = verify_chain(connection)
    if bad_id is not None:
        raise ArchiveRefused({"chain": [_("The chain is broken at entry %(id)s (%(reason)s); nothing archived",
                                          id=bad_id, reason=reason)]})
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
            line = (json.dumps({k: jsonable(v) for k, v in row.items()}, ensure_ascii=False, sort_keys=True)
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
    prev_hash, prev_id, keyed_before = None, None, False
    ring = audit_keys.keyring()
    with open(path, "rb") as handle:
        for line in handle:
            digest.update(line)
            row = json.loads(line)
            if _link_fault(row, prev_id, prev_hash, ring, keyed_before) is not None:
                return False
            prev_hash, prev_id = row["entry_hash"], row["id"]
            keyed_before = keyed_before or bool(row.get("key_id"))
    return digest.hexdigest() == seal.file_sha256 and prev_id == seal.last_id and prev_hash == seal.last_hash
