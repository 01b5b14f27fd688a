"""The field policy (PIPL): THE one table of personal data and the rules every outgoing path calls.

* :data:`PERSONAL_FIELDS` says, for every table, which columns are personal data and of which
  kind; :data:`NOT_PERSONAL` lists the columns whose names look personal but are not, with why.
  A test fails when a model gains a column that looks personal without an entry in one of them.
* :func:`sees_in_full` says whether the acting user may see personal data in full: only a role
  holding ``can_view PersonalData`` (the organisation department). Secrets (a digest, a password
  hash) are shown to nobody.
* :func:`shown` is how a value leaves the server; :class:`PersonalString` is the marshmallow
  field that applies it to every API response, nested objects at any depth included (views/base.py
  builds every API schema through :class:`PolicySchemaConverter`); screens use :func:`shown` in
  their formatters, exports the SQL twins of app/core/masking.py, the audit log :func:`audit_value`.
* :func:`refuse_personal_keys` refuses a filter, search or order on a personal field to a user
  who may not see it in full (400 naming the field), before any SQL runs.
"""
from flask import g, has_request_context
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_babel import lazy_gettext as _l
from marshmallow import fields
from sqlalchemy import inspect as sa_inspect

from app.core import actor, masking
from app.core.roles import PERSONAL_DATA, holds

ID_CARD, PHONE, ADDRESS, SECRET = "id_card", "phone", "address", "secret"
KINDS = (ID_CARD, PHONE, ADDRESS, SECRET)

# table -> {column: kind}. A new personal column gets its line here and nowhere else.
PERSONAL_FIELDS = {
    "party_member": {"id_card": ID_CARD, "id_card_digest": SECRET, "phone": PHONE, "address": ADDRESS},
    "area": {"grid_worker_phone": PHONE},
    "unit": {"liaison_phone": PHONE},
    "agreement": {"liaison_phone": PHONE},
    "ab_user": {"password": SECRET},
    "password_history": {"password_hash": SECRET},
}

# Columns whose names look personal but are not, and why (the registry test reads this).
NOT_PERSONAL = {
    ("unit", "address"): "a resident unit's office address is public information",
    ("ab_user", "email"): "an account's work e-mail, shown only on the security admin's account screens",
    ("audit_log", "client_addr"): "the client IP of an audit entry (Cybersecurity Law art. 21), read by auditors",
    ("user_session", "client_addr"): "the address a login session came from, shown to its owner and the security "
                                     "admin (Cybersecurity Law art. 21)",
    ("ab_register_user", "email"): "FAB's self-registration table (registration is off)",
    ("ab_register_user", "password"): "FAB's self-registration table (registration is off)",
}

# Column names that look like personal data: a column matching one needs a policy entry.
LOOKS_PERSONAL = ("id_card", "idcard", "identity", "phone", "mobile", "tel", "address", "addr", "email",
                  "wechat", "password", "birth")

PERSONAL_DATA_PERMISSION = PERSONAL_DATA  # held by the roles of the one role table (app/core/roles.py)


class PersonalFieldRefused(Exception):
    """A query (filter, search, order) by a personal field the user may not see in full."""

    def __init__(self, field, label=None):
        self.field = field
        self.label = label or field
        super().__init__(field)

    @property
    def message(self):
        return _l("You may not search, filter or sort by %(field)s: it is personal data shown to you masked",
                  field=self.label)


def _table(model_or_table):
    if isinstance(model_or_table, str):
        return model_or_table
    return getattr(model_or_table, "__tablename__", None)


def personal_fields(model_or_table, include_secrets=True):
    """{column: kind} of the personal columns of a model (or table name)."""
    found = PERSONAL_FIELDS.get(_table(model_or_table), {})
    return found if include_secrets else {c: k for c, k in found.items() if k != SECRET}


def kind_of(model_or_table, column):
    """The kind of personal data ``column`` holds, or None."""
    return PERSONAL_FIELDS.get(_table(model_or_table), {}).get(column)


def sees_in_full(user=None):
    """Whether ``user`` (default: the acting user) may see personal data in full.

    System work (no user) does; an anonymous request does not. Cached per request and user.
    """
    if user is None:
        user = actor.current_user()
        if user is None:
            return actor.is_system()
        if has_request_context():
            cached = g.get("_sees_in_full")
            if cached is None or cached[0] != user.id:
                g._sees_in_full = cached = (user.id, _holds_permission(user))
            return cached[1]
    return _holds_permission(user)


def _holds_permission(user):
    return holds(user, *PERSONAL_DATA_PERMISSION)


def mask(kind, value):
    """``value`` masked as personal data of ``kind``; empty values stay as they are."""
    if value in (None, ""):
        return value
    return masking.MASK_BY_KIND[kind](str(value))


def shown(kind, value, full=None):
    """How a personal value leaves the server for the acting user (``full`` overrides who)."""
    if kind == SECRET:
        return None if value in (None, "") else masking.MASK_BY_KIND[SECRET](value)
    full = sees_in_full() if full is None else full
    return value if full else mask(kind, value)


def audit_value(model_or_table, column, value):
    """A value as the audit log stores it: personal data always masked, secrets starred."""
    kind = kind_of(model_or_table, column)
    return value if kind is None else mask(kind, value)


def sql_shown(kind, column, full):
    """The SQL twin of :func:`shown` (exports): the column itself, or its masking expression."""
    return column if full and kind != SECRET else masking.SQL_MASK_BY_KIND[kind](column)


# ---- query keys ---------------------------------------------------------------------------------

def resolve(model, dotted):
    """(model, column) a possibly dotted name ("member.phone") ends at; None if it is not a column."""
    parts = [p for p in str(dotted).split(".") if p]
    current = model
    for part in parts[:-1]:
        relationship = sa_inspect(current).relationships.get(part)
        if relationship is None:
            return None
        current = relationship.mapper.class_
    return (current, parts[-1]) if parts else None


def is_refused_key(model, name, full=None):
    """Whether ``name`` (a column or dotted path of ``model``) may not be a query key."""
    target = resolve(model, name)
    if target is None:
        return False
    kind = kind_of(*target)
    if kind is None:
        return False
    if kind == SECRET:
        return True
    return not (sees_in_full() if full is None else full)


def refuse_personal_keys(model, names):
    """Raise :class:`PersonalFieldRefused` for the first name that may not be a query key."""
    for name in names:
        if name and is_refused_key(model, name):
            raise PersonalFieldRefused(name)


def refuse_personal_filters(model, filters):
    """The same for a FAB ``Filters`` object (screen, API and export filters alike)."""
    if filters is not None:
        refuse_personal_keys(model, [getattr(f, "column_name", None) for f in getattr(filters, "filters", [])])


def api_query_keys(rison):
    """The column names a REST list request filters and orders by (its rison ``q``)."""
    if not isinstance(rison, dict):
        return []
    filters = rison.get("filters")
    names = [f.get("col") for f in filters if isinstance(f, dict)] if isinstance(filters, list) else []
    return names + [rison.get("order_column")]


def screen_query_keys(args):
    """The column names a list screen's URL filters (``_flt_<n>_<col>``) and orders (``_oc_*``) by."""
    names = []
    for key in args:
        if key.startswith("_flt_"):
            names.append(key.split("_", 3)[-1] if key.count("_") >= 3 else "")
        elif key.startswith("_oc_"):
            names.append(args.get(key))
    return names


def queryable(model, names):
    """``names`` less the ones the acting user may not query by (search forms, ``_info``)."""
    return [name for name in names if not is_refused_key(model, name)]


# ---- API serialisation --------------------------------------------------------------------------

class PersonalString(fields.String):
    """A personal text field: loads as typed, dumps through :func:`shown` (secrets never dump)."""

    def __init__(self, kind, **kwargs):
        self.personal_kind = kind
        if kind == SECRET:
            kwargs["load_only"] = True
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return shown(self.personal_kind, super()._serialize(value, attr, obj, **kwargs))


def personal_field(kind, field):
    """A :class:`PersonalString` that validates like ``field`` (FAB's generated one)."""
    made = PersonalString(kind, required=field.required, allow_none=field.allow_none,
                          validate=list(field.validators), metadata=dict(field.metadata),
                          load_only=field.load_only, dump_only=field.dump_only)
    made.unique = getattr(field, "unique", False)
    return made


def personal_paths(schema, prefix=""):
    """The dotted names of the personal fields (not secrets) a schema dumps, nested ones too."""
    found = []
    for name, field in schema.fields.items():
        if isinstance(field, PersonalString) and field.personal_kind != SECRET and not field.load_only:
            found.append(prefix + name)
        elif isinstance(field, fields.Nested):
            found += personal_paths(field.schema, f"{prefix}{name}.")
    return sorted(found)


def default_columns(model):
    """What FAB's nested schema would show of ``model`` when no columns are named: its plain
    columns (no foreign keys), listed, so each personal one gets its policy field."""
    mapper = sa_inspect(model)
    return [attr.key for attr in mapper.column_attrs
            if not any(column.foreign_keys for column in attr.columns)]


class PolicySchemaConverter(Model2SchemaConverter):
    """FAB's model → marshmallow converter with the field policy on every field it makes,
    including the nested schemas of related records."""

    def convert(self, columns, model=None, nested=True, parent_schema_name=None):
        if not columns:
            columns = default_columns(model or self.datamodel.obj)
        return super().convert(columns, model=model, nested=nested, parent_schema_name=parent_schema_name)

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        field = super()._column2field(datamodel, column, nested=nested, parent_schema_name=parent_schema_name)
        kind = kind_of(datamodel.obj, column.name)
        return field if kind is None else personal_field(kind, field)
