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

from flask_appbuilder.models.sqla.filters import FilterStartsWith, SQLAFilterConverter, get_field_setup_query
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from sqlalchemy import false, select, true
from sqlalchemy.orm import selectinload

from app import actor
from app.core import policy
from app.extensions import listen_once

# Roles that see every area unless a scope row narrows them.
# (The security admin sees areas and units to assign accounts their scope; its permissions keep it
# away from every other business record.)
GLOBAL_ROLES = {"Admin", "OrgDept", "Auditor", "SecurityAdmin"}


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


def subtree_area_ids(area_path):
    """A subquery of the ids of every area under (and including) the node with ``area_path``."""
    from models import Area

    return select(Area.id).where(Area.path.startswith(area_path, autoescape=True)).scalar_subquery()


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
    custom = getattr(model, "__scope_area__", None)
    if custom is not None:
        return custom(area_path)
    if getattr(model, "__tablename__", None) == "area":
        return model.path.startswith(area_path, autoescape=True)
    if hasattr(model, "area_id"):
        return model.area_id.in_(subtree_area_ids(area_path))
    # Reference data (meeting types, grade scale, post categories...) is shared by all areas.
    return true() if getattr(model, "__shared_reference__", False) else false()


def _unit_clause(model, unit_id):
    custom = getattr(model, "__scope_unit__", None)
    if custom is not None:
        return custom(unit_id)
    return true() if getattr(model, "__shared_reference__", False) else false()


def restrict(query, model, scope=None):
    """Apply the scope to an ORM ``Query`` or a Core ``Select`` over ``model``."""
    where = clause(model, scope)
    return query if where is None else query.filter(where) if hasattr(query, "filter") else query.where(where)


def is_visible(item, scope=None):
    """Whether a loaded record is inside the scope (asks the database, like every list does)."""
    model = type(item)
    where = clause(model, scope)
    if where is None:
        return True
    from app.extensions import db

    return db.session.execute(select(model.id).where(model.id == item.id).where(where)).first() is not None


def area_in_scope(area, scope=None):
    scope = scope or current_scope()
    if scope.unrestricted:
        return True
    if scope.area_path is None or area is None:
        return scope.area_path is None and scope.unit_id is not None
    return (area.path or "").startswith(scope.area_path)


class FilterStartsWithIndexed(FilterStartsWith):
    """"Starts with" that an index can serve (FAB's ILIKE cannot): a range on SQLite, LIKE on
    PostgreSQL (with a text_pattern_ops index). Case-sensitive, which Chinese names do not mind."""

    def apply(self, query, value):
        query, field = get_field_setup_query(query, self.model, self.column_name)
        if not value:
            return query
        if self.datamodel.session.get_bind().dialect.name == "sqlite":
            return query.filter(field >= value, field < value + "\U0010ffff")
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return query.filter(field.like(escaped + "%", escape="\\"))


class IndexedFilterConverter(SQLAFilterConverter):
    conversion_table = tuple(
        (test, [FilterStartsWithIndexed if f is FilterStartsWith else f for f in filters])
        for test, filters in SQLAFilterConverter.conversion_table
    )


class ScopedInterface(SQLAInterface):
    """FAB's SQLAlchemy interface with the scope applied to every query it builds.

    FAB's ``get`` (show, edit, delete, actions), ``query`` and its count, the related-field
    choices (``get_related_interface``) and chart grouping all pass through ``apply_filters`` or
    ``_get_base_query``; ``get_related_obj`` is re-done here because FAB bypasses both.
    """

    filter_converter_class = IndexedFilterConverter
    eager_relationships = ()
    deep_page_offset = 5000  # from this offset on, page through ids first

    def _is_deep_page(self, page, page_size, order_column, select_columns):
        if not page or not page_size or page * page_size < self.deep_page_offset:
            return False
        plain_order = not order_column or (order_column in self.list_columns and not self.is_relation(order_column))
        return plain_order and not (select_columns and self.exists_col_to_many(select_columns))

    def __init__(self, obj, session=None, related_via=None):
        super().__init__(obj, session)
        # The relationship a related view filters on, when the model has several to the parent
        # (a community's members are those whose ``community`` is it, not whose grid is).
        self.related_via = related_via

    def get_related_fk(self, model):
        if self.related_via in self.list_properties and self.get_related_model(self.related_via) is model:
            return self.related_via
        return super().get_related_fk(model)

    def get_related_interface(self, col_name):
        # FAB asks once per <option> of a dropdown: keep one interface per column.
        cache = self.__dict__.setdefault("_related_interfaces", {})
        if col_name not in cache:
            cache[col_name] = ScopedInterface(self.get_related_model(col_name))
        return cache[col_name]

    def apply_filters(self, query, filters):
        policy.refuse_personal_filters(self.obj, filters)  # before any SQL runs
        return restrict(super().apply_filters(query, filters), self.obj)

    def apply_order_by(self, query, order_column, order_direction, *args, **kwargs):
        policy.refuse_personal_keys(self.obj, [order_column])
        return super().apply_order_by(query, order_column, order_direction, *args, **kwargs)

    def _get_base_query(self, query, filters=None, order_column="", order_direction=""):
        policy.refuse_personal_filters(self.obj, filters)
        query = restrict(query, self.obj)
        return super()._get_base_query(query, filters, order_column, order_direction)

    def get_related_obj(self, col_name, value):
        model = self.get_related_model(col_name)
        try:
            value = int(value)  # screen filters pass the URL's text; PostgreSQL refuses integer = varchar
        except (TypeError, ValueError):
            return None
        return restrict(self.session.query(model), model).filter(model.id == value).one_or_none()

    def apply_all(self, query, filters=None, order_column="", order_direction="", page=None, page_size=None,
                  select_columns=None, outer_default_load=False):
        """FAB's query, plus: deep pages skip rows on the index alone (a "deferred join": the
        database pages through ids, then reads 20 rows, instead of reading every skipped row), and
        the list's many-to-one columns load in one query each instead of one per row."""
        query = super().apply_all(query, filters, order_column, order_direction, page, page_size,
                                  select_columns, outer_default_load)
        if self._is_deep_page(page, page_size, order_column, select_columns):
            ids = query.with_entities(self.obj.id).subquery()
            query = self.session.query(self.obj).filter(self.obj.id.in_(select(ids.c.id)))
            query = self.apply_order_by(query, order_column, order_direction, add_pk=True)
        if self.eager_relationships:
            query = query.options(*(selectinload(getattr(self.obj, name)) for name in self.eager_relationships))
        return query

    def query_count(self, query, filters=None, select_columns=None):
        """Count without FAB's outer joins for the selected columns: many-to-one outer joins
        cannot change the number of rows, and over 1M rows the join costs seconds."""
        if select_columns and not self.exists_col_to_many(select_columns):
            select_columns = None
        return super().query_count(query, filters, select_columns)


def check_writes(session, flush_context, instances):
    """Session hook: refuse to create or move a record outside the acting user's scope."""
    scope = current_scope()
    if scope.unrestricted:
        return
    for obj in list(session.new) + list(session.dirty):
        if not getattr(type(obj), "__audited__", False) or not hasattr(type(obj), "area_id"):
            continue
        if obj in session.new or session.is_modified(obj):
            _check_object_area(session, obj, scope)


def _check_object_area(session, obj, scope):
    from app.areas import area_of
    from models import Area

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
    from sqlalchemy import inspect as sa_inspect

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
        session, [obj for obj in list(session.new) + list(session.dirty) if getattr(type(obj), "__audited__", False)])


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
            if scope.unrestricted or getattr(model, "__shared_reference__", False):
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
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy.orm import MANYTOMANY, MANYTOONE

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
    from sqlalchemy import inspect as sa_inspect

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
    goes in front of every before_flush hook, the area hook (app/areas.py) included."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "before_flush", check_relations):
        event.listen(Session, "before_flush", check_relations, insert=True)
    listen_once("before_flush", check_writes)
