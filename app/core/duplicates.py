"""Duplicates: a record that repeats another's unique key (the same person registered twice...).
A duplicate refused by the rules is logged (who tried, which record it matched, the number only
masked), and a unique key a concurrent writer took between the rules and the write is answered
as the rules answer it (:func:`write_checked`, :func:`unique_violation`), never as a database error.
"""
import re

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core import policy
from app.core.audit import record_event
from app.core.labels import field_label
from app.core.refusals import DuplicateRefused
from app.extensions import db

DUPLICATE_PERSON = _l("This person is already registered; ask the organisation department")


class DuplicateHit:
    """A duplicate rule's message: the user reads only ``str(hit)``; the audit log also gets the
    table and id (and area) of the record it matched, and ``details`` (masked values only)."""

    def __init__(self, message, record_type, existing_id, area_id=None, details=None):
        self.message = message
        self.record_type = record_type
        self.existing_id = existing_id
        self.area_id = area_id
        self.details = details or {}

    def __str__(self):
        return str(self.message)


def audit_duplicates(errors, pk=None):
    """Roll back the refused write and log every duplicate hit among ``errors``, one entry each:
    a refused duplicate is logged although nothing is saved."""
    hits = [message for messages in errors.values() for message in messages if isinstance(message, DuplicateHit)]
    if not hits:
        return
    db.session.rollback()
    for hit in hits:
        details = {**hit.details, "existing_id": hit.existing_id,
                   "attempt": "create" if pk is None else f"update #{pk}"}
        record_event("duplicate", hit.record_type, hit.existing_id, summary=str(hit.details.get("id_card", "")),
                     details=details, area_id=hit.area_id)


def write_checked(item):
    """Send a record that passed the rules to the database now (a flush in the caller's
    transaction), so that a unique key another writer took meanwhile is refused like the
    duplicate rules refuse it, not as a database error at commit. Any failure rolls back."""
    written = written_values(item)  # a failed flush may expire them
    try:
        db.session.add(item)
        db.session.flush()
    except IntegrityError as exc:
        refusal = unique_violation(exc, item, written)
        if refusal is None:
            db.session.rollback()
            raise
        raise refusal from None
    except Exception:
        db.session.rollback()
        raise


# Unique keys told in words of their own: (table, columns) -> (field, message).
UNIQUE_KEY_MESSAGES = {
    ("party_member", ("id_card_digest",)): ("id_card", DUPLICATE_PERSON),
    ("unit_report", ("checkin_id", "quarter")): ("quarter", _l("This check-in already has a report for this quarter")),
}
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$", re.MULTILINE)
_POSTGRESQL_KEY = re.compile(r"Key \((.+?)\)=\(")


def unique_violation(exc, item=None, written=None):
    """A unique-key IntegrityError as the refusal the duplicate rules give: the session rolled
    back, the hit audited, a :class:`DuplicateRefused` on the key's field. None (nothing done) when
    ``exc`` is not a unique-key violation. ``item`` is the record being written, if known, and
    ``written`` its values taken before the write (:func:`written_values`)."""
    table, columns = _unique_key_of(exc)
    if table is None:
        return None
    if written is None or getattr(type(item), "__tablename__", None) != table:
        written = written_values(_written_record(item, table))
    db.session.rollback()
    existing_id, area_id = _existing_key_holder(table, columns, written, written.get("_own_id"))
    field, message = UNIQUE_KEY_MESSAGES.get((table, columns)) or _generic_unique_message(table, columns)
    errors = {field: [DuplicateHit(message, table, existing_id, area_id, identity_details(table, written))]}
    audit_duplicates(errors, written.get("_own_id"))
    return DuplicateRefused(errors)


def identity_details(table, values):
    """What the log keeps of the number a duplicate was tried with: masked by the field policy."""
    number = values.get("id_card")
    return {"id_card": policy.audit_value(table, "id_card", number)} if number else {}


def written_values(item):
    """The column values a record is being written with, without loading anything: its own, and
    the keys of the records its many-to-one links point to; ``_own_id`` is its id when stored."""
    if item is None:
        return {}
    state = sa_inspect(item)
    values = dict(state.dict)
    for relationship in state.mapper.relationships:
        target = state.dict.get(relationship.key)
        if relationship.direction.name != "MANYTOONE" or target is None:
            continue
        target_values = sa_inspect(target).dict
        for local, remote in relationship.local_remote_pairs:
            values.setdefault(local.key, target_values.get(remote.key))
    values["_own_id"] = state.identity[0] if state.identity else None
    return values


def _unique_key_of(exc):
    """(table, (columns…)) of the unique key a database refused, or (None, ())."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        match = _POSTGRESQL_KEY.search(orig.diag.message_detail or "")
        columns = tuple(c.strip().strip('"') for c in match.group(1).split(",")) if match else ()
        return orig.diag.table_name, columns
    match = _SQLITE_UNIQUE.search(str(orig))
    if match is None:
        return None, ()
    names = [name.strip().split(".", 1) for name in match.group(1).split(",")]
    if any(len(name) != 2 for name in names):
        return None, ()  # an expression index: no columns to name
    return names[0][0], tuple(column for _table, column in names)


def _written_record(item, table):
    """The record of ``table`` whose write failed: ``item``, or a new/changed one in the session."""
    candidates = [item] + list(db.session.new) + list(db.session.dirty)
    return next((obj for obj in candidates
                 if obj is not None and getattr(type(obj), "__tablename__", None) == table), None)


def _existing_key_holder(table, columns, values, own_id):
    """(id, area_id) of the record that holds the key, or (None, None) when unknown."""
    sql_table = Model.metadata.tables.get(table)
    if sql_table is None or not columns or any(values.get(c) is None for c in columns) \
            or "id" not in sql_table.c:
        return None, None
    area = sql_table.c.area_id if "area_id" in sql_table.c else None
    query = select(sql_table.c.id, area) if area is not None else select(sql_table.c.id)
    query = query.where(*(sql_table.c[c] == values[c] for c in columns))
    if own_id is not None:
        query = query.where(sql_table.c.id != own_id)
    row = db.session.execute(query.limit(1)).first()
    if row is None:
        return None, None
    return row[0], row[1] if area is not None else None


def _generic_unique_message(table, columns):
    """(field, message) for a unique key without words of its own: the field is the key's last
    plain column (a relation's when all are links), the message names the key's fields."""
    names = [c[:-3] if c.endswith("_id") else c for c in columns] or ["id"]
    plain = [c for c in columns if not c.endswith("_id")]
    field = plain[-1] if plain else names[0]
    labels = ", ".join(str(field_label(name)) for name in names)
    return field, _l("A record with the same %(fields)s already exists", fields=labels)
