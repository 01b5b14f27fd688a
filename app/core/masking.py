"""Personal data (PIPL): the one module that masks ID-card and phone numbers and hashes ID cards.

* :func:`mask_id_card` / :func:`mask_phone` mask a value in Python for lists, detail pages and
  exports shown to roles without the explicit "see personal data" permission.
* :func:`sql_mask_id_card` / :func:`sql_mask_phone` build the same masking as SQLAlchemy
  expressions (``substr``, ``length``, ``||`` and ``CASE`` only, so they compile on SQLite and
  PostgreSQL) for fast exports that never load the clear value into Python.  For any value up to
  64 characters they return exactly what the Python functions return.
* :func:`id_card_digest` is the keyed HMAC-SHA256 used to detect that the same person is
  registered twice without comparing clear ID-card numbers.
"""
import hashlib
import hmac

from sqlalchemy import Integer, String, case, func, literal

from app.core.formats import normalize_id_card

__all__ = [
    "MASK_CHAR",
    "mask_id_card",
    "mask_phone",
    "id_card_digest",
    "sql_mask_id_card",
    "sql_mask_phone",
    "mask_address",
    "sql_mask_address",
    "MASK_BY_KIND",
    "SQL_MASK_BY_KIND",
]

MASK_CHAR = "*"
# Longest value the SQL expressions mask with exactly the Python result (a literal of stars is
# cut to the needed length with substr, since SQLite has no repeat()).
_SQL_MAX_LEN = 64
_STARS = MASK_CHAR * _SQL_MAX_LEN

ID_CARD_KEEP = (6, 4)  # region code ... last four (sequence + check digit)
PHONE_KEEP = (3, 4)  # network prefix ... last four


def _mask(value, head, tail):
    """Keep ``head`` leading and ``tail`` trailing characters and star the rest.

    None and "" are returned as they are; a value too short to hide anything between the kept
    parts (length <= head + tail) is masked entirely.
    """
    if value is None:
        return None
    value = str(value)
    if value == "":
        return value
    if len(value) <= head + tail:
        return MASK_CHAR * len(value)
    return value[:head] + MASK_CHAR * (len(value) - head - tail) + value[len(value) - tail:]


def mask_id_card(value):
    """'110105199001011234' -> '110105********1234' (first 6 and last 4 kept)."""
    return _mask(value, *ID_CARD_KEEP)


def mask_phone(value):
    """'13812345678' -> '138****5678' (first 3 and last 4 kept)."""
    return _mask(value, *PHONE_KEEP)


def id_card_digest(value, key):
    """Keyed HMAC-SHA256 (hex, 64 characters) of the normalized ID-card number.

    The number is normalized as in :func:`app.core.formats.normalize_id_card` (whitespace removed,
    'x' upper-cased), so the same person always gives the same digest under the same key.
    Returns None for None or a blank value, so a nullable unique digest column stays NULL.
    ``key`` (bytes or str, e.g. the app's PERSONAL_DATA_HASH_KEY) must not be empty.
    """
    if not key:
        raise ValueError("id_card_digest needs a non-empty key")
    number = normalize_id_card(value)
    if not number:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    return hmac.new(key, number.encode("utf-8"), hashlib.sha256).hexdigest()


def _sql_mask(column, head, tail):
    """SQL twin of :func:`_mask` for values up to ``_SQL_MAX_LEN`` characters (NULL stays NULL)."""
    length = func.length(column, type_=Integer)
    stars = literal(_STARS, type_=String)
    kept = (
        func.substr(column, 1, head, type_=String)
        .concat(func.substr(stars, 1, length - head - tail, type_=String))
        .concat(func.substr(column, length - (tail - 1), tail, type_=String))
    )
    return case(
        (length > head + tail, kept),
        else_=func.substr(stars, 1, length, type_=String),
    )


def sql_mask_id_card(column):
    """SQLAlchemy expression masking an ID-card column like :func:`mask_id_card`."""
    return _sql_mask(column, *ID_CARD_KEEP)


def sql_mask_phone(column):
    """SQLAlchemy expression masking a phone column like :func:`mask_phone`."""
    return _sql_mask(column, *PHONE_KEEP)


ADDRESS_KEEP = 6  # 北京市朝阳区 … : the district stays, the street and door do not
ADDRESS_HIDDEN = MASK_CHAR * 4  # a fixed run, so the length of the rest is not told


def mask_address(value):
    """'北京市朝阳区望京街道1号楼2单元301' -> '北京市朝阳区****' (first 6 characters kept)."""
    if value is None or value == "":
        return value
    value = str(value)
    if len(value) <= ADDRESS_KEEP:
        return MASK_CHAR * len(value)
    return value[:ADDRESS_KEEP] + ADDRESS_HIDDEN


def sql_mask_address(column):
    """SQLAlchemy expression masking an address column like :func:`mask_address`."""
    length = func.length(column, type_=Integer)
    return case(
        (length > ADDRESS_KEEP,
         func.substr(column, 1, ADDRESS_KEEP, type_=String).concat(literal(ADDRESS_HIDDEN, type_=String))),
        else_=func.substr(literal(_STARS, type_=String), 1, length, type_=String),
    )


def _never_shown(_value):
    return "***"


# How each kind of personal data (app/core/policy.py names the kind of every column) is masked;
# a "secret" (a digest, a password hash) is never shown at all.
MASK_BY_KIND = {"id_card": mask_id_card, "phone": mask_phone, "address": mask_address, "secret": _never_shown}
SQL_MASK_BY_KIND = {"id_card": sql_mask_id_card, "phone": sql_mask_phone, "address": sql_mask_address,
                    "secret": lambda column: literal("***", type_=String)}
