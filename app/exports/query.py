"""The rows and columns of a list export, built as ONE scoped SQL statement.

An export holds exactly what the list screen shows: the screen's columns (``export_columns`` or
``list_columns``) under their Chinese labels, the rows of the screen's datamodel (so the scope of
app/core/scope.py and the screen's base filters apply) narrowed by the user's search filters. Masking
of personal data, choice labels, local times and the CSV formula guard are SQL expressions, so
rows never pass through Python one by one (STACK-NOTES: per-row Python masking costs ~75% of the
speed), and on PostgreSQL the whole statement can run inside ``COPY … TO STDOUT``.
"""
from dataclasses import dataclass

from flask_appbuilder.models.sqla.filters import FilterRelation
from flask_babel import gettext as _
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, String, case, func, literal, select
from sqlalchemy.orm import aliased

from app.core import policy
from app.core.filter_values import LIST_OPERATORS, FilterValueInvalid, check_filters, json_value, typed_value
from app.core.refusals import RecordInvalid
from app.extensions import db
from models import Unit

# A text cell starting with one of these is a formula to Excel / LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DISPLAY_COLUMNS = ("name", "title", "username")  # what a related record shows as, in order
# Related records shown otherwise, by table: the SQL of what shows, given the related table's alias.
DISPLAY_BY_TABLE = {
    # A check-in has no name of its own: it shows as its unit's name.
    "unit_checkin": lambda alias: select(Unit.name).where(Unit.id == alias.unit_id).scalar_subquery(),
}
# Date-time columns an export shows in local (Asia/Shanghai) time instead of as stored, by table.
UTC_COLUMNS = {
    "audit_log": {"at"},  # when the entry was written: app/core/audit_chain.py stamps it in UTC
}


class ExportInvalid(RecordInvalid):
    """A request that cannot be exported: {field: [reasons]} in the user's language, answered by
    the one error map (app/core/errors.py) like any refused record."""


@dataclass
class ExportColumn:
    name: str
    label: str
    kind: str  # text, number, date, datetime
    expr: object  # the SQL expression of the cell


def column_kind(sql_type):
    if isinstance(sql_type, DateTime):
        return "datetime"
    if isinstance(sql_type, Date):
        return "date"
    if isinstance(sql_type, (Integer, Numeric, Float)) and not isinstance(sql_type, Boolean):
        return "number"
    return "text"


def formula_guard(expr):
    """Prefix a text cell that Excel would run as a formula with an apostrophe (OWASP advice)."""
    return case((func.substr(expr, 1, 1).in_(FORMULA_PREFIXES), literal("'", String).concat(expr)),
                else_=expr)


def label_case(expr, labels):
    """Show a code as its label (translated now, in the exporting user's language)."""
    if not labels:
        return expr
    return case({code: literal(str(label), String) for code, label in labels.items()}, value=expr, else_=expr)


def local_time(expr, dialect_name, timezone="Asia/Shanghai", offset_hours=8):
    """A UTC timestamp as Asia/Shanghai text 'YYYY-MM-DD HH:MM:SS' (China has no daylight saving)."""
    if dialect_name == "postgresql":
        return func.to_char(func.timezone(timezone, func.timezone("UTC", expr)), "YYYY-MM-DD HH24:MI:SS")
    return func.strftime("%Y-%m-%d %H:%M:%S", expr, f"+{offset_hours} hours")


def plain_time(expr, dialect_name):
    if dialect_name == "postgresql":
        return func.to_char(expr, "YYYY-MM-DD HH24:MI:SS")
    return func.strftime("%Y-%m-%d %H:%M:%S", expr)


def display_column(model):
    """How a related record shows in an export: its table's ``DISPLAY_BY_TABLE`` SQL, else its
    name / title / username column; None when it has none of them."""
    custom = DISPLAY_BY_TABLE.get(model.__tablename__)
    if custom is not None:
        return custom(model)
    for name in DISPLAY_COLUMNS:
        if name in model.__table__.c:
            return getattr(model, name)
    return None


class ListExport:
    """The export of one list screen for the acting user: columns, a count, the statement."""

    def __init__(self, view, filters=(), order=None, can_see_personal_data=False, csv=True):
        self.view = view
        self.model = view.datamodel.obj
        self.dialect = db.session.get_bind().dialect.name
        self.can_see_personal_data = can_see_personal_data
        self.csv = csv
        self.filters = build_filters(view, filters)
        self.order = order or view.base_order or ("id", "desc")
        self.joins = []
        self.columns = [self._column(name) for name in export_column_names(view)]
        self.columns = [column for column in self.columns if column is not None]

    # ---- columns --------------------------------------------------------------------------
    def _column(self, name):
        """The SQL of one cell; None for a computed column with no SQL form (left out)."""
        label = str(self.view.label_columns.get(name, name))
        datamodel = self.view.datamodel
        computed = getattr(self.view, "export_sql", {}).get(name)
        if computed is not None:  # a computed cell: the view gives its SQL (e.g. a warning colour)
            return ExportColumn(name, label, "text", computed(self.model))
        if name not in self.model.__table__.c and not datamodel.is_relation_many_to_one(name):
            return None
        if datamodel.is_relation_many_to_one(name):
            related = datamodel.get_related_model(name)
            alias = aliased(related)
            self.joins.append((alias, getattr(self.model, name).of_type(alias)))
            shown = display_column(alias)
            if shown is None:  # nothing but its number to show
                return ExportColumn(name, label, "number", alias.id)
            return ExportColumn(name, label, "text", self._text(shown))
        column = getattr(self.model, name)
        kind = column_kind(column.type)
        masked = policy.kind_of(self.model, name)
        if masked:
            return ExportColumn(name, label, "text", policy.sql_shown(masked, column, self.can_see_personal_data))
        labels = self._labels(name)
        if labels is not None:
            return ExportColumn(name, label, "text", label_case(column, labels))
        if isinstance(column.type, Boolean):
            return ExportColumn(name, label, "text", case((column.is_(True), _("Yes")), (column.is_(False), _("No"))))
        if kind == "datetime":
            utc = name in UTC_COLUMNS.get(self.model.__tablename__, ())
            expr = local_time(column, self.dialect) if utc else plain_time(column, self.dialect)
            return ExportColumn(name, label, kind, expr)
        return ExportColumn(name, label, kind, self._text(column) if kind == "text" else column)

    def _labels(self, name):
        choices = getattr(self.view, "choice_columns", {}).get(name)
        if choices is not None:
            return dict(choices.pairs)
        return getattr(self.view, "export_labels", {}).get(name)

    def _text(self, expr):
        return formula_guard(expr) if self.csv else expr

    @property
    def headers(self):
        return [column.label for column in self.columns]

    # ---- rows -----------------------------------------------------------------------------
    def _filtered_query(self):
        """The screen's own query: scope (ScopedInterface.apply_filters) + base and user filters."""
        datamodel = self.view.datamodel
        joined = self.filters.get_joined_filters(self.view._base_filters)
        return datamodel.apply_filters(db.session.query(self.model), joined)

    def count(self):
        query = self._filtered_query().with_entities(func.count(self.model.id)).order_by(None)
        return query.scalar()

    def statement(self):
        query = self._filtered_query()
        for alias, relationship in self.joins:
            query = query.outerjoin(relationship)
        query = query.with_entities(*(column.expr.label(f"c{i}") for i, column in enumerate(self.columns)))
        return query.order_by(*self._order_by()).statement

    def _order_by(self):
        name, direction = self.order
        column = getattr(self.model, name, None) if name in self.model.__table__.c else None
        column = column if column is not None else self.model.id
        ordered = [column.desc() if direction == "desc" else column.asc()]
        if column is not self.model.id:
            ordered.append(self.model.id.desc() if direction == "desc" else self.model.id.asc())
        return ordered


def export_column_names(view):
    return list(getattr(view, "export_columns", None) or view.list_columns)


# ---- filters ------------------------------------------------------------------------------
def filter_columns(view, api=None):
    """Columns a user may filter an export on: what the screen's (and the API's) search offers."""
    columns = list(view.search_columns or [])
    for name in (api.search_columns if api is not None else None) or []:
        if name not in columns:
            columns.append(name)
    return columns


def normalize_filters(view, filters, api=None):
    """Validate ``filters`` and return them as [{"col", "opr", "value"}].

    Accepts the REST API's form (a list of {"col", "opr", "value"}, ``opr`` being a filter name of
    the resource's ``_info``) or a mapping {column: value}, meaning "equals" (a related column's
    value is the related record's id). Unknown columns or operations raise ExportInvalid."""
    if filters in (None, "", [], {}):
        return []
    if isinstance(filters, dict):
        filters = [{"col": col, "opr": None, "value": value} for col, value in filters.items()]
    if not isinstance(filters, list):
        raise ExportInvalid({"filters": [_("Filters must be a list of {col, opr, value} or a mapping")]})
    allowed = filter_columns(view, api)
    available = view.datamodel.get_filters(allowed)._all_filters
    normalized = []
    for item in filters:
        if not isinstance(item, dict) or "col" not in item or "value" not in item:
            raise ExportInvalid({"filters": [_("Each filter needs col and value")]})
        col, opr, value = item["col"], item.get("opr"), item["value"]
        if col not in allowed or col not in available:
            raise ExportInvalid({"filters": [_("Cannot filter on %(col)s", col=col)]})
        names = [f.arg_name for f in available[col]]
        opr = opr or ("rel_o_m" if "rel_o_m" in names else "eq")
        if opr not in names:
            raise ExportInvalid({"filters": [_("Filter %(opr)s is not allowed on %(col)s", opr=opr, col=col)]})
        if isinstance(value, (list, tuple, dict)) and opr not in LIST_OPERATORS:
            raise ExportInvalid({"filters": [_("The value of %(col)s must be a single value", col=col)]})
        flt = next(f for f in available[col] if f.arg_name == opr)
        try:  # the one check of app/core/filter_values.py: a value that does not parse is refused
            value = json_value(typed_value(flt, value, view))
        except FilterValueInvalid as exc:
            raise ExportInvalid(exc.messages) from None
        normalized.append({"col": col, "opr": opr, "value": value})
    return normalized


def screen_filters(view, args):
    """The filters of a list screen's URL (``_flt_<n>_<col>=value``) as [{"col", "opr", "value"}]."""
    available = view.datamodel.get_filters(view.search_columns)._all_filters
    found = []
    for arg in sorted(args):
        if not arg.startswith("_flt_"):
            continue
        index, _sep, col = arg[len("_flt_"):].partition("_")
        if not index.isdigit() or col not in (view.search_columns or []) or col not in available:
            continue
        candidates = available[col]
        if int(index) >= len(candidates):
            continue
        # Blank values too, as the screen has them: the export refuses what the screen refuses.
        for value in args.getlist(arg) if hasattr(args, "getlist") else [args[arg]]:
            found.append({"col": col, "opr": candidates[int(index)].arg_name, "value": value})
    return found


def screen_order(view, args):
    """The list's current sort (``_oc_<View>=col&_od_<View>=asc|desc``) when it is a plain column."""
    name = type(view).__name__
    column, direction = args.get(f"_oc_{name}"), args.get(f"_od_{name}")
    return valid_order(view, [column, direction])


def valid_order(view, order):
    """[column, "asc"|"desc"] when it names a plain column of the list's model, else None."""
    if not isinstance(order, (list, tuple)) or len(order) != 2:
        return None
    column, direction = order
    if isinstance(column, str) and column in view.datamodel.obj.__table__.c and direction in ("asc", "desc"):
        return [column, direction]
    return None


def build_filters(view, filters):
    """FAB Filters from normalized filters: the very filter classes the screen applies."""
    result = view.datamodel.get_filters(view.search_columns)
    available = result._all_filters
    for item in filters:
        for index, flt in enumerate(available.get(item["col"], [])):
            if flt.arg_name == item["opr"]:
                value = item["value"]
                if isinstance(flt, FilterRelation):
                    value = str(value)
                result.add_filter_index(item["col"], index, value)
                break
    return check_filters(result, view)  # typed as FAB's filters want them (dates as dates...)

