"""Request arguments (URL and body) checked before Flask-AppBuilder reads them.

FAB trusts what it parses: ``int()`` on a screen's ``page_*``/``psize_*``, a filter index
``_flt_<n>_<col>`` used as a list index, an ``_oc_`` column handed to SQL, the rison ``q`` of the
REST API parsed by a library that can raise anything (``q=(((`` is a RecursionError), record ids
passed to the database whatever their size, an action looked up by name and called. Each of
those answered 500. :func:`check_request` runs before every request of a FAB view (installed by
app/core/errors.py) and refuses such input the one way: :class:`BadArgument` (400, the message in the
user's language, answered by app/core/errors.py) or 404 for a record id or action that cannot exist.
It never changes a valid request: what passes here, FAB parses exactly as before.
"""
import json
import re
import urllib.parse

import jsonschema
import prison
from flask import abort, current_app, request
from flask_appbuilder.api import BaseApi, ModelRestApi
from flask_appbuilder.api.schemas import get_info_schema, get_item_schema, get_list_schema
from flask_appbuilder.const import API_URI_RIS_KEY
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from marshmallow.validate import Range
from marshmallow_sqlalchemy.fields import Related, RelatedList

from app.core.formats import integer_bounds
from app.core.scope import NO_SUCH_RECORD

SMALLEST_ID, BIGGEST_ID = -(2 ** 63), 2 ** 63 - 1  # the databases' 64-bit integers
ID_BITS = 32  # an id column is an Integer (PostgreSQL: 32-bit; a larger parameter is a DataError)
BIGGEST_PAGE = 2 ** 31 - 1  # page × page size stays far inside a 64-bit OFFSET
INTEGER_TEXT = re.compile(r"^[+-]?\d{1,20}$")
# FAB's own patterns (flask_appbuilder/urltools.py): matched anywhere in an argument's name.
PAGE_ARG, PAGE_SIZE_ARG, ORDER_ARG, FILTER_ARG = "page_(.*)", "psize_(.*)", "_oc_(.*)", r"_flt_(\d)_(.*)"
# The REST endpoints that read ``q``, and the JSON schema FAB checks it against.
RISON_SCHEMAS = {"get_list": get_list_schema, "get": get_item_schema, "info": get_info_schema}
SCREEN_PAGES = ("list", "show", "edit", "add")  # the screen methods that read paging, order and filters

NOT_RISON = _l("The query (q) is not valid rison or JSON")
NOT_AN_OBJECT = _l("The query (q) must be an object, e.g. (page:0,page_size:20)")
BAD_PART = _l("The query (q) is not valid at “%(where)s”")
BAD_PAGE = _l("“%(name)s” must be a page number from 0 to %(max)d")
BAD_PAGE_SIZE = _l("“%(name)s” must be a page size from 1 to %(max)d")
NO_ORDER = _l("The list cannot be sorted by “%(column)s”")
NO_FILTER = _l("The list cannot be filtered by “%(column)s”")
NO_OPERATOR = _l("“%(operator)s” is not a way to filter “%(column)s”")
NOT_JSON_OBJECT = _l("The request body must be a JSON object")
UNSTORABLE = _l("Holds a character that cannot be stored (U+0000 or a lone surrogate)")


class BadArgument(Exception):
    """A request argument FAB cannot use: 400 with ``message`` (app/core/errors.py answers it, as a
    plain message for the URL's arguments, or ``{field: [message]}`` when ``field`` is given)."""

    def __init__(self, message, field=None):
        self.message = message
        self.field = field
        super().__init__(str(message))


def record_id(value, column=None):
    """``value`` (a URL's ``<pk>``, a form's ``rowid``, a relation's id) as an integer that
    ``column`` (an id column; default: an Integer) can hold, or None: then no record has it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not INTEGER_TEXT.match(value.strip()):
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    low, high = id_bounds(column)
    return value if low <= value <= high else None


def is_id(value, column=None):
    return record_id(value, column) is not None


def id_bounds(column=None):
    """(smallest, largest) value of integer ``column`` as the database types it (PostgreSQL's
    integer is 32-bit, bigint 64); an Integer's when no column is known."""
    bounds = integer_range(column) if column is not None else None
    if bounds is None:
        return -(2 ** (ID_BITS - 1)), 2 ** (ID_BITS - 1) - 1
    return bounds.min, bounds.max


def parse_rison(value):
    """What FAB's @rison makes of ``q`` (prison, then JSON when FAB allows it), or BadArgument
    where FAB would crash or refuse. A value prison fails on other than by ParserException
    (RecursionError, IndexError, TypeError) crashes FAB before its JSON fallback: refused too."""
    try:
        return prison.loads(value)
    except prison.decoder.ParserException:
        pass
    except Exception:  # noqa: BLE001 - prison raises whatever its recursion meets
        raise BadArgument(NOT_RISON) from None
    if not current_app.config.get("FAB_API_ALLOW_JSON_QS", True):
        raise BadArgument(NOT_RISON)
    try:
        return json.loads(urllib.parse.parse_qs(f"{API_URI_RIS_KEY}={value}").get(API_URI_RIS_KEY)[0])
    except Exception:  # noqa: BLE001 - as FAB: anything that is not JSON
        raise BadArgument(NOT_RISON) from None


def check_rison(value, schema):
    """The rison ``q`` of a REST request: parsed, of FAB's shape for the endpoint, and page
    numbers and sizes whole numbers the database can page by. Returns the parsed value."""
    parsed = parse_rison(value)
    if not isinstance(parsed, dict):
        raise BadArgument(NOT_AN_OBJECT)
    try:
        jsonschema.validate(instance=parsed, schema=schema)
    except jsonschema.ValidationError as exc:
        raise BadArgument(BAD_PART % {"where": _where(exc.absolute_path)}) from None
    _check_pages(parsed, ())
    return parsed


def _where(path):
    """A JSON path as ``filters[0].value`` (``q`` itself when empty)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or API_URI_RIS_KEY


def _check_pages(value, path):
    """Every ``page`` in ``q`` (the list's, or a related field's in ``_info``) a whole number
    from 0 up; every ``page_size`` a whole number (FAB caps it). A float such as 1.0 passes
    JSON schema's "integer" but not PostgreSQL's LIMIT."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = _where((*path, key))
            if key == "page" and not (_whole(item) and 0 <= item <= BIGGEST_PAGE):
                raise BadArgument(BAD_PAGE % {"name": where, "max": BIGGEST_PAGE})
            if key == "page_size" and not (_whole(item) and SMALLEST_ID <= item <= BIGGEST_ID):
                raise BadArgument(BAD_PART % {"where": where})
            _check_pages(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_pages(item, (*path, index))


def _whole_text(value):
    """A URL argument's whole number, or None."""
    return int(value) if INTEGER_TEXT.match((value or "").strip()) else None


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


# ---- relations in a request body -----------------------------------------------------------------

class RelatedById(Related):
    """A relation a REST request writes, named by the related record's id (a JSON integer).
    marshmallow-sqlalchemy also takes an object, and makes a new record of one whose id it does
    not find ({"foo": 1} is a TypeError, {"name": …} an unchecked insert); an id past 64 bits
    overflows the database. Anything but an id that can exist is refused like an id that does
    not exist (the words of app/core/scope.py)."""

    def _deserialize(self, value, attr=None, data=None, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int) or not is_id(value, self._key_column()):
            raise ValidationError(str(NO_SUCH_RECORD))
        return super()._deserialize(value, attr, data, **kwargs)

    def _key_column(self):
        keys = self.related_keys
        return keys[0].columns[0] if len(keys) == 1 else None


def relation_ids_only(field):
    """``field`` (FAB's Related or RelatedList of a request schema) taking ids only, documented
    as integers in the OpenAPI document (FAB leaves its type out)."""
    inner = field.inner if isinstance(field, RelatedList) else field
    if type(inner) is Related:
        inner.__class__ = RelatedById  # the same field, its settings kept; only loading differs
        inner.metadata = {**inner.metadata, "type": "integer", "minimum": 1, "maximum": id_bounds()[1]}
    return field


def request_body_schema(schema, columns):
    """Make ``schema`` (a marshmallow schema instance of a REST request body; ``columns`` its
    model's columns by name) take relations by id only and whole numbers only within their
    column's database type. Changes its fields in place (the instance's, which load and the
    OpenAPI document both read)."""
    for name, field in (getattr(schema, "fields", None) or {}).items():
        relation_ids_only(field)
        bounds = integer_range(columns.get(field.attribute or name))
        if bounds is not None and not field.dump_only:
            field.validators.append(bounds)
    return schema


def integer_range(column):
    """A Range validator for an integer column's database type (PostgreSQL's integer is 32-bit:
    a larger number is a DataError, not a clear 400), or None for other columns."""
    bounds = integer_bounds(column)
    return Range(*bounds) if bounds else None


def storable(text):
    """Whether the databases can store ``text``: PostgreSQL refuses U+0000, and a lone surrogate
    (JSON allows "\\ud800") cannot be encoded as UTF-8."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable_key(value, key=None):
    """The first key (top-level field name; None for the value itself) under which ``value``
    holds text the databases cannot store, or False."""
    if isinstance(value, str):
        return key if not storable(value) else False
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for inner_key, item in items:
        if isinstance(inner_key, str) and not storable(inner_key):
            return key if key is not None else "_schema"
        found = _unstorable_key(item, key if key is not None else inner_key)
        if found is not False:
            return found
    return False


def _check_text():
    """Every argument, form field and JSON string of the request storable (a filter value or a
    field reaches SQL as it is)."""
    sources = [request.args] + ([request.form] if request.method in ("POST", "PUT") else [])
    for source in sources:
        for name, values in source.lists():
            if not storable(name) or not all(storable(value) for value in values):
                raise BadArgument(UNSTORABLE, field=name if storable(name) else "_schema")
    if request.is_json and request.method in ("POST", "PUT", "PATCH"):
        found = _unstorable_key(request.get_json(silent=True))
        if found is not False:
            raise BadArgument(UNSTORABLE, field=found if isinstance(found, str) else "_schema")


# ---- the hook ------------------------------------------------------------------------------------

def view_of_request():
    """The FAB view (screen or REST API) whose blueprint serves this request, or None."""
    appbuilder = getattr(current_app, "appbuilder", None)
    if appbuilder is None or not request.blueprint:
        return None
    count, views = current_app.extensions.get("gongjian_views_by_blueprint", (None, None))
    if count != len(appbuilder.baseviews):  # built once, again only if a view was added since
        views = {view.blueprint.name: view for view in appbuilder.baseviews
                 if getattr(view, "blueprint", None) is not None}
        current_app.extensions["gongjian_views_by_blueprint"] = (len(appbuilder.baseviews), views)
    return views.get(request.blueprint)


def check_request():
    """Before every request to a FAB view: record ids, then the view kind's own arguments."""
    view = view_of_request()
    if view is None:
        return
    _check_record_ids(view)
    _check_text()
    method = (request.endpoint or "").rsplit(".", 1)[-1]
    if isinstance(view, BaseApi):
        _check_api(view, method)
    elif getattr(view, "datamodel", None) is not None:
        _check_screen(view, method)


def _integer_pk(view):
    """The view's model's primary key column if it is an integer, else None."""
    datamodel = getattr(view, "datamodel", None)
    try:
        column = datamodel.get_pk() if datamodel is not None else None
        return column if column is not None and column.type.python_type is int else None
    except (AttributeError, NotImplementedError):
        return None


def _check_record_ids(view):
    """A record id in the URL (``<pk>``, ``<int:…_id>``) that no database row can have: 404,
    as for any id that does not exist (Flask's int converter takes any size; FAB's ``<pk>`` any
    text, which PostgreSQL refuses to compare with an integer column)."""
    pk = _integer_pk(view)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not isinstance(value, bool):
            if not is_id(value, pk if name == "pk" else None):
                abort(404)
        elif name == "pk" and pk is not None and not is_id(value, pk):
            abort(404)


def _check_api(view, method):
    """FAB's generated endpoints of a resource (a custom endpoint reads its own arguments)."""
    if not isinstance(view, ModelRestApi):
        return
    value = request.args.get(API_URI_RIS_KEY)
    if method in RISON_SCHEMAS and value:
        rison = check_rison(value, RISON_SCHEMAS[method])
        if method == "get_list":
            _check_api_list(view, rison)
        if rison.get("columns") and rison.get("select_columns"):
            raise BadArgument(BAD_PART % {"where": "select_columns"})
    if method in ("post", "put") and request.method in ("POST", "PUT"):
        if not request.is_json or not isinstance(request.get_json(silent=True), dict):
            raise BadArgument(NOT_JSON_OBJECT)


def _check_api_list(view, rison):
    """What FAB refuses in English or silently drops: an order column it does not offer, a
    filter without col/opr/value (FAB then drops it and every later one: all rows), a column or
    operator it does not offer."""
    column = rison.get("order_column")
    if column and view.order_columns and column not in view.order_columns:
        raise BadArgument(NO_ORDER % {"column": column})
    offered = view._filters.get_search_filters()
    for index, flt in enumerate(rison.get("filters") or []):
        missing = [key for key in ("col", "opr", "value") if key not in flt]
        if missing:
            raise BadArgument(BAD_PART % {"where": f"filters[{index}].{missing[0]}"})
        if flt["col"] not in offered:
            raise BadArgument(NO_FILTER % {"column": flt["col"]})
        if flt["opr"] not in [f.arg_name for f in offered[flt["col"]]]:
            raise BadArgument(NO_OPERATOR % {"operator": flt["opr"], "column": flt["col"]})


def _check_screen(view, method):
    """A screen's paging, sorting and filter arguments as FAB reads them (every argument whose
    name holds the pattern, for every view: a show page pages its related tabs) on the pages
    that read them, and its bulk actions."""
    if method == "action":
        _check_action(view, request.view_args.get("name"), [])
    elif method == "action_post" and request.method == "POST":
        _check_action(view, request.form.get("action"), request.form.getlist("rowid"))
    if method not in SCREEN_PAGES:
        return
    max_size = max(100, current_app.config.get("FAB_API_MAX_PAGE_SIZE") or 100)
    for name in request.args:
        value = request.args.get(name)
        if re.findall(PAGE_ARG, name):
            number = _whole_text(value)
            if number is None or not 0 <= number <= BIGGEST_PAGE:
                raise BadArgument(BAD_PAGE % {"name": name, "max": BIGGEST_PAGE})
        if re.findall(PAGE_SIZE_ARG, name):
            number = _whole_text(value)
            if number is None or not 1 <= number <= max_size:
                raise BadArgument(BAD_PAGE_SIZE % {"name": name, "max": max_size})
        order = re.findall(ORDER_ARG, name)
        if order and request.args.get(f"_od_{order[0]}") in ("asc", "desc"):
            _check_screen_order(view, order[0], value)
        flt = re.findall(FILTER_ARG, name)
        if flt:
            _check_screen_filter(view, int(flt[0][0]), flt[0][1], name)


def _screens(view):
    return [view] + list(getattr(view, "_related_views", None) or [])


def _check_screen_order(view, view_name, column):
    """``_oc_<View>``: a column the view offers, or a plain column of its model (FAB hands any
    other name to SQL: CompileError, AttributeError, KeyError)."""
    for screen in _screens(view):
        if type(screen).__name__ == view_name:
            allowed = set(screen.order_columns or []) | set(getattr(screen.datamodel, "list_columns", {}))
            if column not in allowed:
                label = screen.label_columns.get(column, column)
                raise BadArgument(NO_ORDER % {"column": label})


def _check_screen_filter(view, index, column, name):
    """``_flt_<n>_<col>``: FAB takes the n-th filter of the column without looking."""
    known = getattr(view, "_filters", None)
    filters = getattr(known, "_all_filters", None) or {}
    if column in filters and index >= len(filters[column]):
        raise BadArgument(NO_FILTER % {"column": view.label_columns.get(column, name)})


def _check_action(view, name, row_ids):
    """A bulk action: one the view has (FAB calls ``None.func`` otherwise), on ids that can
    exist. 404 otherwise, like a page that does not exist."""
    actions = getattr(view, "actions", None) or {}
    if name is not None and name not in actions:
        abort(404)
    if not all(is_id(row_id, _integer_pk(view)) for row_id in row_ids):
        abort(404)
