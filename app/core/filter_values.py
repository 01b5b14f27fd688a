"""Filter values (筛选值): the ONE check that the value of a list filter parses for its column.

Every filter a user gives a list passes through here before any SQL runs: a list screen's
``_flt_N_col=value`` (views/base.py GongjianBaseView), the REST API's
``?q=(filters:!((col:…,opr:…,value:…)))`` (views/base.py GongjianApi) and an export's filters
(app/exports/query.py: the export_job API, the 导出 buttons and the CLI). :func:`typed_value` turns
the value into what its column holds — a date, a date and time, a whole number, a number, yes/no,
a choice code, a related record's id — or raises :class:`FilterValueInvalid`, which every caller
answers with 400 naming ``filters`` and the column, in the user's language.

FAB alone would not refuse: ``set_value_to_type`` turns a value that does not parse into None,
and then "greater than None" is no filter at all (the list, and an export's file, hold every row)
while "equal to None" silently asks for empty values.
"""
import math
import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from flask_appbuilder.models.filters import BaseFilter, FilterRelation
from flask_babel import gettext as _
from sqlalchemy import false

from app.core.request_args import id_bounds

FIELD = "filters"  # the field every refusal names (the API's key, the export request's field)
LIST_OPERATORS = ("in", "not_in")  # FAB's operators whose value is a list
CODE_OPERATORS = ("eq", "neq", "in", "not_in")  # operators that compare a choice column's code
TRUE_WORDS = ("true", "y", "yes", "on", "1", "是")
FALSE_WORDS = ("false", "n", "no", "off", "0", "否")
BIGGEST_ID = 2 ** 63 - 1  # larger whole numbers overflow the databases' 64-bit integers
SHOWN_VALUE_CHARS = 40
INTEGER_TEXT = re.compile(r"^[+-]?\d+$")


class FilterValueInvalid(Exception):
    """A filter value that does not parse for its column; ``messages`` is {"filters": [reason]}."""

    field = FIELD

    def __init__(self, column, message):
        self.column = column
        self.message = message
        super().__init__(str(message))

    @property
    def messages(self):
        return {FIELD: [str(self.message)]}


class NoRows(BaseFilter):
    """What a list shows while one of its filters is refused: nothing (not every row)."""

    name = "no rows"
    arg_name = None

    def apply(self, query, value):
        return query.filter(false())


def check_filters(filters, view=None):
    """Type, in place, every value a user gave a FAB ``Filters`` (screen, API, export); raise
    :class:`FilterValueInvalid` at the first that does not parse. Filters a related tab sets
    itself (``is_related_view``) are the application's, not the user's, and are left alone."""
    for index, flt in enumerate(filters.filters):
        if not getattr(flt, "is_related_view", False):
            filters.values[index] = typed_value(flt, filters.values[index], view)
    return filters


def typed_value(flt, value, view=None):
    """``value`` as the column of FAB filter ``flt`` holds it, or :class:`FilterValueInvalid`.

    ``view`` (a screen or an API) gives the column's label and its choice codes. A list is a list
    of values (FAB's ``in`` operators, or a screen's repeated argument): each must parse."""
    kind = value_kind(flt)
    column = column_text(flt.column_name, view)
    if isinstance(value, (list, tuple)):
        if not value:
            raise FilterValueInvalid(flt.column_name, _("%(column)s: a value is required", column=column))
        return [_typed(kind, flt, item, view, column) for item in value]
    if flt.arg_name in LIST_OPERATORS:
        return [_typed(kind, flt, value, view, column)]
    return _typed(kind, flt, value, view, column)


def value_kind(flt):
    """What the filter's value must be: relation, boolean, integer, number, date, datetime, enum
    or text (a dotted or computed column is text to FAB, and so it is here)."""
    if isinstance(flt, FilterRelation):
        return "relation"
    datamodel, name = flt.datamodel, flt.column_name
    for kind, test in (("boolean", "is_boolean"), ("integer", "is_integer"), ("number", "is_float"),
                       ("number", "is_numeric"), ("date", "is_date"), ("datetime", "is_datetime"),
                       ("enum", "is_enum")):
        if getattr(datamodel, test)(name):
            return kind
    return "text"


def column_text(name, view=None):
    """How a message names a column: its label and its name, 登记日期 (registered_on)."""
    label = (getattr(view, "label_columns", None) or {}).get(name)
    label = str(label) if label is not None else ""
    return f"{label} ({name})" if label and label != name else name


def _shown(value):
    text = str(value)
    return f"“{text[:SHOWN_VALUE_CHARS]}…”" if len(text) > SHOWN_VALUE_CHARS else f"“{text}”"


def _typed(kind, flt, value, view, column):
    if isinstance(value, dict) or isinstance(value, (list, tuple)):
        raise FilterValueInvalid(flt.column_name, _("%(column)s: the value must be a single value, not a list or "
                                                    "an object", column=column))
    coded = kind == "enum" or (kind == "text" and flt.arg_name in CODE_OPERATORS and bool(_choices(flt, view)))
    if value is None or ((kind != "text" or coded) and isinstance(value, str) and not value.strip()):
        raise FilterValueInvalid(flt.column_name, _("%(column)s: a value is required", column=column))
    parsed = PARSERS[kind](flt, value, view)
    if parsed is None:
        raise FilterValueInvalid(flt.column_name, _message(kind, flt, value, view, column))
    return parsed


def _message(kind, flt, value, view, column):
    shown = _shown(value)
    if kind == "date":
        return _("%(column)s: %(value)s is not a date (use YYYY-MM-DD)", column=column, value=shown)
    if kind == "datetime":
        return _("%(column)s: %(value)s is not a date and time (use YYYY-MM-DD HH:MM:SS)", column=column,
                 value=shown)
    if kind == "integer":
        return _("%(column)s: %(value)s is not a whole number", column=column, value=shown)
    if kind == "number":
        return _("%(column)s: %(value)s is not a number", column=column, value=shown)
    if kind == "boolean":
        return _("%(column)s: %(value)s is not yes or no (use true or false)", column=column, value=shown)
    if kind == "relation":
        return _("%(column)s: %(value)s is not the id of a record", column=column, value=shown)
    allowed = "、".join(f"{code} ({label})" if str(label) != code else code
                       for code, label in _choices(flt, view))
    return _("%(column)s: %(value)s is not one of: %(choices)s", column=column, value=shown, choices=allowed)


# ---- one parser per kind: the typed value, or None when it does not parse ------------------
def _integer(value, bounds=(-BIGGEST_ID, BIGGEST_ID)):
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        text = value.strip()
        value = int(text) if INTEGER_TEXT.match(text) else None
    if not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        return None
    return value


def _column_bounds(flt):
    """The whole numbers the filtered column (a relation: the related record's id) can hold as
    the database types it: PostgreSQL compares with a 32-bit integer parameter, and a larger
    one is an error, not an empty list."""
    try:
        if isinstance(flt, FilterRelation):
            column = flt.datamodel.get_related_model(flt.column_name).__mapper__.primary_key[0]
        else:
            column = flt.datamodel.list_columns.get(flt.column_name)
    except (AttributeError, KeyError, IndexError):
        column = None
    return id_bounds(column) if column is not None else (-BIGGEST_ID, BIGGEST_ID)


def parse_integer(flt, value, _view):
    return _integer(value, _column_bounds(flt))


def parse_relation(flt, value, _view):
    number = _integer(value, _column_bounds(flt))
    return number if number is not None and number >= 0 else None


def parse_number(flt, value, _view):
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    if not number.is_finite():
        return None
    if flt.datamodel.is_numeric(flt.column_name) and not flt.datamodel.is_float(flt.column_name):
        return number
    number = float(number)
    return number if math.isfinite(number) else None


def parse_boolean(_flt, value, _view):
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_date(_flt, value, _view):
    if isinstance(value, datetime):
        return None if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0) else value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def parse_datetime(_flt, value, _view):
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:  # stored as naive UTC everywhere (models/base.py utcnow)
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _choices(flt, view):
    """(code, label) pairs a choice column accepts: the view's Choices, or a SQL Enum's values."""
    choices = (getattr(view, "choice_columns", None) or {}).get(flt.column_name)
    if choices is not None:
        return list(choices.pairs)
    column = flt.datamodel.list_columns.get(flt.column_name)
    enums = getattr(getattr(column, "type", None), "enums", None) or []
    return [(code, code) for code in enums]


def parse_choice(flt, value, view):
    """A choice code, or its label (as the user's screen shows it) turned into the code."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None
    text = str(value).strip()
    for code, label in _choices(flt, view):
        if text == str(code):
            return code
    for code, label in _choices(flt, view):
        if text == str(label):
            return code
    return None


def parse_enum(flt, value, view):
    return parse_choice(flt, value, view)


def parse_text(flt, value, view):
    if flt.arg_name in CODE_OPERATORS and _choices(flt, view):
        return parse_choice(flt, value, view)
    return value if isinstance(value, str) else str(value)


PARSERS = {"relation": parse_relation, "boolean": parse_boolean, "integer": parse_integer, "number": parse_number,
           "date": parse_date, "datetime": parse_datetime, "enum": parse_enum, "text": parse_text}


def json_value(value):
    """A typed value as an export job stores it (JSON): dates as ISO text, decimals as text."""
    if isinstance(value, list):
        return [json_value(item) for item in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
