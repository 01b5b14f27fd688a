"""Organisation scope: the ONE mechanism deciding which records a user may see and change.

A user's scope is an area node (``UserScope.area``) — they see the records whose area lies in that
subtree — and, for unit liaisons, a unit (they see only what belongs to their unit). Roles in
``GLOBAL_ROLES`` without a scope row see the whole district. Everyone else sees nothing.

Everything goes through here: ``ScopedInterface`` is the datamodel of every screen and API, so
list, show, edit, delete, bulk actions, related-field choices, related views and ``_info`` all
filter the same way; ``restrict(query, Model)`` serves exports, reports and tasks; the session
hooks refuse, on every path, a relation set to a record out of scope (``check_relations``: as if
it did not exist) and a record created or moved out of scope (``check_writes``).
"""
from dataclasses import dataclass
from typing import Optional

from flask_babel import lazy_gettext as _l
from sqlalchemy import event, false, select, true
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import MANYTOMANY, MANYTOONE, Session

from app.core import actor
from app.core.area_tree import area_of
from app.core.audit import is_audited
from app.extensions import listen_once
from models.area import Area, subtree_area_ids
from models.evaluation import GradeOption
from models.export_job import ExportJob
from models.meeting import MeetingType
from models.reference import PostCategory, ServiceQuota
from models.reminder import Notification, ReminderDelivery, ReminderRule
from models.unit import Unit
from models.unit_scope import UNIT_SCOPES, unit_area_scope

# Roles that see every area unless a scope row narrows them.
# (The security admin sees areas and units to assign accounts their scope; its permissions keep it
# away from every other business record.)
GLOBAL_ROLES = {"Admin", "OrgDept", "Auditor", "SecurityAdmin"}

# Reference data shared by every area: whoever may read it sees every row, and a relation may
# always point at one.
SHARED_REFERENCE = {
    MeetingType,  # the kinds of meeting (admins add their own beside the shipped ones)
    GradeOption,  # the evaluation scale
    PostCategory,  # the service posts members claim
    ServiceQuota,  # what a checked-in member must do in a period
    ReminderRule,  # district-wide settings: every role that may read rules sees them all
}
# Records of one account, not of an area: the scope lets every reader through, and their screens
# and API show each user their own (answering 404 otherwise).
PER_USER = {
    Notification,  # the bell: views/notification.py filters on the signed-in user
    ExportJob,  # the requester's (and, for the record, auditors'): app/exports/access.py
}


def _delivery_area(area_path):
    """The reminders about the records at ``area_path`` or below."""
    under = select(Area.id).where(Area.path.startswith(area_path, autoescape=True)).scalar_subquery()
    return ReminderDelivery.target_area_id.in_(under)


# Records in an area's scope otherwise than by their own ``area_id``: model -> the WHERE clause for
# an area path. (What a unit liaison sees of each model is ``UNIT_SCOPES``, models/unit_scope.py.)
AREA_RULES = {
    Unit: unit_area_scope,  # where the unit sits or has checked in to (models/unit_scope.py)
    ReminderDelivery: _delivery_area,  # scoped like the records the reminders speak about
}


class ScopeViolation(Exception):
    """Raised when a write would put a record outside the acting user's scope."""

    def __init__(self, message=None, field="area"):
        self.message = message or _l("This area is outside your scope")
        self.field = field
        super().__init__(str(self.message))

    def __str__(self):
        return str(self.message)


@dataclass(frozen=True)
class Scope:
    """What one user may see: everything, an area subtree (by path prefix), a unit, or nothing."""

    unrestricted: bool = False
    area_path: Optional[str] = None
    unit_id: Optional[int] = None

    @property
    def empty(self):
        return not self.unrestricted and self.area_path is None and self.unit_id is None


UNRESTRICTED = Scope(unrestricted=True)
NOTHING = Scope()


def scope_for(user):
    """The scope of ``user`` (None means system work, which is unrestricted)."""
    if user is None:
        return UNRESTRICTED
    row = getattr(user, "scope", None)
    if row is not None and (row.area_id or row.unit_id):
        return Scope(area_path=row.area.path if row.area is not None else None, unit_id=row.unit_id)
    if {role.name for role in getattr(user, "roles", [])} & GLOBAL_ROLES:
        return UNRESTRICTED
    return NOTHING


def current_scope():
    """The acting user's scope; system work is unrestricted, an anonymous request sees nothing."""
    if actor.is_system():
        return UNRESTRICTED
    user = actor.current_user()
    return scope_for(user) if user is not None else NOTHING


def clause(model, scope=None):
    """The WHERE clause limiting ``model`` to ``scope`` (None when nothing needs filtering)."""
    scope = scope or current_scope()
    if scope.unrestricted:
        return None
    if scope.empty:
        return false()
    parts = []
    if scope.area_path is not None:
        parts.append(_area_clause(model, scope.area_path))
    if scope.unit_id is not None:
        parts.append(_unit_clause(model, scope.unit_id))
    # A liaison with an area sees their unit's records within that area only.
    result = parts[0]
    for part in parts[1:]:
        result = result & part
    return result


def _area_clause(model, area_path):
    if model in SHARED_REFERENCE or model in PER_USER:
        return true()
    if model in AREA_RULES:
        return AREA_RULES[model](area_path)
    if model is Area:
        return model.path.startswith(area_path, autoescape=True)
    if hasattr(model, "area_id"):
        return model.area_id.in_(subtree_area_ids(area_path))
    return false()


def _unit_clause(model, unit_id):
    if model in SHARED_REFERENCE or model in PER_USER:
        return true()
    rule = UNIT_SCOPES.get(model)
    return false() if rule is None else rule(unit_id)


def restrict(query, model, scope=None):
    """Apply the scope to an ORM ``Query`` or a Core ``Select`` over ``model``."""
    where = clause(model, scope)
    return query if where is None else query.filter(where) if hasattr(query, "filter") else query.where(where)


def area_in_scope(area, scope=None):
    scope = scope or current_scope()
    if scope.unrestricted:
        return True
    if scope.area_path is None or area is None:
        return scope.area_path is None and scope.unit_id is not None
    return (area.path or "").startswith(scope.area_path)


def check_writes(session, flush_context, instances):
    """Session hook: refuse to create or move a record outside the acting user's scope."""
    scope = current_scope()
    if scope.unrestricted:
        return
    for obj in list(session.new) + list(session.dirty):
        # An area's place is its parent: a scoped user's new area must hang inside the scope.
        if not is_audited(type(obj)) or not (isinstance(obj, Area) or hasattr(type(obj), "area_id")):
            continue
        if obj in session.new or session.is_modified(obj):
            _check_object_area(session, obj, scope)


def _check_object_area(session, obj, scope):
    if isinstance(obj, Area):
        parent = obj.parent or (session.get(Area, obj.parent_id) if obj.parent_id else None)
        inside = parent is not None and area_in_scope(parent, scope)
        if not inside and (obj in session.new or "parent_id" in _changed(obj) or "parent" in _changed(obj)):
            raise ScopeViolation(field="parent")
        return
    area = area_of(session, obj)
    if scope.area_path is not None and not area_in_scope(area, scope):
        raise ScopeViolation()
    if scope.unit_id is not None and hasattr(type(obj), "unit_id"):
        unit_id = obj.unit.id if getattr(obj, "unit", None) is not None else obj.unit_id
        if unit_id != scope.unit_id:
            raise ScopeViolation(_l("You can only enter records of your own unit"), field="unit")


def _changed(obj):
    return {attr.key for attr in sa_inspect(obj).attrs if attr.history.has_changes()}


# What a write naming a record the user cannot see is told: the same as for an id that does not
# exist, so that a refusal never reveals a record outside the scope.
NO_SUCH_RECORD = _l("There is no such record in your scope")
_ID_BATCH = 1000  # ids per IN (...) list: SQLite caps the number of bound parameters


def check_relations(session, flush_context, instances):
    """Session hook: every relation a write sets points at a record the acting user can see.

    It runs before every other before_flush hook (see ``install``), so it judges what the writer
    set, not what the area hook derives from it (a claim's area from its project, a record's
    community), and it refuses a nonexistent id that FAB's schema turned into a stub object
    before anything tries to save that stub. System work (seeding, migrations) is not checked."""
    if actor.is_system():
        return
    refuse_out_of_scope_targets(
        session, [obj for obj in list(session.new) + list(session.dirty) if is_audited(type(obj))])


def refuse_out_of_scope_targets(session, objects, scope=None, existing_only=False):
    """Raise ``ScopeViolation(field=<relation>)`` if one of ``objects`` sets or changes a
    many-to-one or many-to-many relation to a record outside ``scope`` (default: the acting
    user's) or to one that does not exist, both with the same message. Shared reference data is
    always allowed. One query per target model, however many rows point at it.

    The API calls it before the record rules, so that no rule answers differently for an
    out-of-scope record, with ``existing_only``: a request names related records by id, and a
    nested object (which marshmallow would create, unchecked by the rules) is refused as unknown."""
    wanted = {}  # target model -> {target id: (the first relation naming it, is a stub)}
    for obj in objects:
        for field, model, target_id, stub in _set_targets(obj):
            if target_id is None:
                if existing_only:
                    raise ScopeViolation(NO_SUCH_RECORD, field=field)
                continue
            wanted.setdefault(model, {}).setdefault(target_id, (field, stub))
    if not wanted:
        return
    with session.no_autoflush:  # reading must not flush the half-built record (or recurse in a flush)
        scope = scope or current_scope()
        for model, fields in wanted.items():
            if scope.unrestricted or model in SHARED_REFERENCE:
                fields = {target_id: value for target_id, value in fields.items() if value[1]}  # stubs only
            seen = _visible_ids(session, model, list(fields), scope) if fields else set()
            for target_id, (field, _stub) in fields.items():
                if target_id not in seen:
                    raise ScopeViolation(NO_SUCH_RECORD, field=field)


def _set_targets(obj):
    """(relation name, target model, target id, is a stub) for every many-to-one and many-to-many
    relation ``obj`` sets or changes, whether by object (``member=m``) or by key (``member_id=5``).
    A new target without an id (id None) is created in the same flush and checked as a record of
    its own; a new target WITH an id is what marshmallow makes of an id that does not exist."""
    state = sa_inspect(obj)
    for rel in state.mapper.relationships:
        if rel.viewonly or rel.direction not in (MANYTOONE, MANYTOMANY):
            continue
        model = rel.mapper.class_
        added = [target for target in state.attrs[rel.key].history.added if target is not None]
        for target in added:
            target_state = sa_inspect(target)
            if target_state.key is not None:  # persistent or detached: an existing row
                yield rel.key, model, target_state.key[1][0], False
                continue
            ident = target_state.mapper.primary_key_from_instance(target)
            has_id = bool(ident) and ident[0] is not None
            yield rel.key, model, _as_id(ident[0]) if has_id else None, has_id
        if added or rel.direction is not MANYTOONE or len(rel.local_columns) != 1:
            continue
        column_key = state.mapper.get_property_by_column(next(iter(rel.local_columns))).key
        values = [value for value in state.attrs[column_key].history.added if value is not None]
        if values:
            yield rel.key, model, _as_id(values[0]), False


def _as_id(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value  # never found: refused like any id that does not exist


def _visible_ids(session, model, ids, scope):
    """Which of ``ids`` exist and lie in ``scope``."""
    key = sa_inspect(model).primary_key[0]
    where = clause(model, scope)
    ids = [value for value in ids if isinstance(value, int)]
    found = set()
    for start in range(0, len(ids), _ID_BATCH):
        query = select(key).where(key.in_(ids[start:start + _ID_BATCH]))
        found.update(session.execute(query if where is None else query.where(where)).scalars())
    return found


def install():
    """Register the session hooks (they read the acting user at flush time). The relation check
    goes in front of every before_flush hook, the area hook (app/core/area_tree.py) included."""
    if not event.contains(Session, "before_flush", check_relations):
        event.listen(Session, "before_flush", check_relations, insert=True)
    listen_once("before_flush", check_writes)
