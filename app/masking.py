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

from app.validation import normalize_id_card

__all__ = [
    "MASK_CHAR",
    "mask_id_card",
    "mask_phone",
    "id_card_digest",
    "sql_mask_id_card",
    "sql_mask_phone",
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

    The number is normalized as in :func:`app.validation.normalize_id_card` (whitespace removed,
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


# --------------------------------------------------------------------------------------------
# Who may see personal data in full, and masking of API rows.
# --------------------------------------------------------------------------------------------

PERSONAL_DATA_PERMISSION = ("can_view", "PersonalData")
# How each kind of personal data is masked (models name the kind of each column in
# ``__audit_masked__``); a "secret" (a digest, a password hash) is never shown at all.
MASK_BY_KIND = {"id_card": mask_id_card, "phone": mask_phone, "secret": lambda _value: "***"}


def mask(kind, value):
    """Mask ``value`` as personal data of ``kind``; empty values stay as they are."""
    return MASK_BY_KIND[kind](str(value)) if value not in (None, "") else value


def can_see_personal_data(user=None):
    """Whether the acting user's role holds the explicit "view personal data" permission."""

    from app import actor
    from app.roles import holds

    user = user if user is not None else actor.current_user()
    if user is None:
        return actor.is_system()
    return holds(user, *PERSONAL_DATA_PERMISSION)


def mask_row(row, columns):
    """Mask the personal-data columns of one API row (a dict) in place."""
    for column, kind in columns.items():
        if row.get(column):
            row[column] = mask(kind, row[column])
