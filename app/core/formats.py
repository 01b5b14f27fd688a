"""Domain format rules of Gongjian: the one place that says what a valid value looks like.

Every rule is a plain function that takes a raw value, returns the normalized value and raises
:class:`DomainValidationError` with a translatable message when the value is wrong:

* :func:`validate_id_card` - PRC resident ID-card number (GB 11643-1999, 18 characters);
* :func:`validate_credit_code` - unified social credit code of a unit (GB 32100-2015);
* :func:`validate_mobile` - mainland mobile phone number;
* :func:`validate_hours` - hours of one service record;
* :func:`validate_date_not_future`, :func:`validate_date_order` - date sanity;
* :func:`validate_quarter` - a quarter label ("2026Q4");
* :func:`password_complexity` - a new password (FAB calls it): app/core/passwords.py's policy.

The record rules (app/core/record_rules.py) run them on every screen and API write, so a user
sees the same message wherever the value is entered. Messages are lazy strings
(``flask_babel.lazy_gettext``) with English msgids; they are translated when rendered, so
importing this module needs no app context.
"""
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Integer, SmallInteger

from app.core import calendar

__all__ = [
    "DomainValidationError",
    "is_blank",
    "normalize_id_card",
    "id_card_check_char",
    "validate_id_card",
    "CREDIT_CODE_CHARS",
    "CREDIT_CODE_CATEGORIES",
    "credit_code_check_char",
    "validate_credit_code",
    "validate_mobile",
    "validate_hours",
    "validate_date_not_future",
    "validate_date_order",
    "validate_quarter",
    "password_complexity",
    "HOURS_MIN_EXCLUSIVE",
    "HOURS_MAX",
]


class DomainValidationError(ValueError):
    """A value breaks a domain format rule; ``.message`` is the (lazy) translatable message."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return str(self.message)


def is_blank(value):
    """None or a string of whitespace only: a value the format rules leave alone."""
    return value is None or (isinstance(value, str) and value.strip() == "")


_WHITESPACE = re.compile(r"\s+")


# --------------------------------------------------------------------------------------------
# Resident ID card (GB 11643-1999)
# --------------------------------------------------------------------------------------------

# ISO 7064 MOD 11-2: weight of position i (1-based, left to right) is 2**(18-i) mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_FORMAT = re.compile(r"^\d{17}[\dX]$")
# First two digits of the address code: provinces / autonomous regions / municipalities
# (GB/T 2260), plus 71 Taiwan, 81 Hong Kong, 82 Macao and 83 (residence permits of Taiwan residents).
_ID_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)


def normalize_id_card(value):
    """Return the ID-card number without any whitespace and in upper case ('x' -> 'X')."""
    if value is None:
        return ""
    return _WHITESPACE.sub("", str(value)).upper()


def id_card_check_char(first17):
    """Return the check character (0-9 or X) for the first 17 digits of an ID-card number."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK_CHARS[total % 11]


def validate_id_card(value, today=None):
    """Validate an 18-character resident ID-card number and return it normalized.

    Checks: 17 digits followed by a digit or X; a plausible region code (known province prefix);
    a real birth date (YYYYMMDD, year >= 1900, not after ``today``); the MOD 11-2 check character.
    """
    number = normalize_id_card(value)
    if not _ID_FORMAT.match(number):
        raise DomainValidationError(
            _l("Invalid ID-card number: it must be 18 characters, 17 digits followed by a digit or X")
        )
    if int(number[:2]) not in _ID_PROVINCES or number[2:6] == "0000":
        raise DomainValidationError(
            _l("Invalid ID-card number: the first six digits are not a valid region code")
        )
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        birth = None
    today = today or calendar.today()
    if birth is None or birth.year < 1900 or birth > today:
        raise DomainValidationError(
            _l("Invalid ID-card number: the birth date (digits 7 to 14) is not a real past date")
        )
    if id_card_check_char(number[:17]) != number[17]:
        raise DomainValidationError(_l("Invalid ID-card number: the check digit does not match"))
    return number


# --------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# --------------------------------------------------------------------------------------------

CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_CREDIT_CHARS = CREDIT_CODE_CHARS
_CREDIT_VALUES = {c: i for i, c in enumerate(_CREDIT_CHARS)}
# Weight of position i (0-based) is 3**i mod 31.
_CREDIT_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# Registration authority code (1st char) -> allowed organisation category codes (2nd char).
CREDIT_CODE_CATEGORIES = {
    "1": "1239",    # 机构编制: 机关, 事业单位, 中央编办直管群团, 其他
    "2": "19",      # 外交
    "3": "123459",  # 司法行政: 律所, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",      # 文化
    "5": "1239",    # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",     # 旅游
    "7": "129",     # 宗教
    "8": "19",      # 工会
    "9": "123",     # 市场监管 (工商): 企业, 个体工商户, 农民专业合作社
    "A": "19",      # 中央军委改革和编制办公室
    "N": "1239",    # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "1",       # 其他
}
_CREDIT_CATEGORIES = CREDIT_CODE_CATEGORIES
_CREDIT_FORMAT = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")


def credit_code_check_char(first17):
    """Return the GB 32100 check character for the first 17 characters of a credit code."""
    total = sum(_CREDIT_VALUES[c] * w for c, w in zip(first17, _CREDIT_WEIGHTS))
    return _CREDIT_CHARS[(31 - total % 31) % 31]


def validate_credit_code(value):
    """Validate an 18-character unified social credit code and return it in upper case."""
    code = normalize_id_card(value)  # same normalization: no whitespace, upper case
    if not _CREDIT_FORMAT.match(code):
        raise DomainValidationError(
            _l("Invalid unified social credit code: it must be 18 characters of digits and "
               "capital letters other than I, O, S, V and Z")
        )
    categories = _CREDIT_CATEGORIES.get(code[0])
    if categories is None or code[1] not in categories:
        raise DomainValidationError(
            _l("Invalid unified social credit code: the first two characters are not a known "
               "registration authority and organisation category")
        )
    if not code[2:8].isdigit() or code[2] == "0":
        raise DomainValidationError(
            _l("Invalid unified social credit code: characters 3 to 8 must be a region code")
        )
    if credit_code_check_char(code[:17]) != code[17]:
        raise DomainValidationError(
            _l("Invalid unified social credit code: the check character does not match")
        )
    return code


# --------------------------------------------------------------------------------------------
# Mobile phone
# --------------------------------------------------------------------------------------------

_MOBILE_FORMAT = re.compile(r"^1[3-9]\d{9}$")
_MOBILE_SEPARATORS = re.compile(r"[\s\-]+")


def validate_mobile(value):
    """Validate a mainland mobile number; strip spaces, dashes and a +86 / 86 prefix.

    Returns the bare 11-digit number.
    """
    number = _MOBILE_SEPARATORS.sub("", "" if value is None else str(value))
    if number.startswith("+86"):
        number = number[3:]
    elif number.startswith("86") and len(number) == 13:
        number = number[2:]
    if not _MOBILE_FORMAT.match(number):
        raise DomainValidationError(
            _l("Invalid mobile number: it must be 11 digits starting with 13 to 19")
        )
    return number


# --------------------------------------------------------------------------------------------
# Service hours
# --------------------------------------------------------------------------------------------

HOURS_MIN_EXCLUSIVE = Decimal("0")
HOURS_MAX = Decimal("24")
_HOURS_QUANTUM = Decimal("0.01")


def validate_hours(value):
    """Validate the hours of one service record: more than 0, at most 24, at most 2 decimals.

    Accepts int, str, float or Decimal and returns a Decimal with two decimal places.
    """
    message = _l("Service hours must be more than 0 and at most 24, with at most 2 decimal places")
    if value is None or isinstance(value, bool):
        raise DomainValidationError(message)
    try:
        hours = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise DomainValidationError(message) from None
    if not hours.is_finite() or hours <= HOURS_MIN_EXCLUSIVE or hours > HOURS_MAX:
        raise DomainValidationError(message)
    if hours != hours.quantize(_HOURS_QUANTUM):
        raise DomainValidationError(message)
    return hours.quantize(_HOURS_QUANTUM)


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


def as_date(value):
    """The date of a datetime; a date (or None) unchanged."""
    return value.date() if isinstance(value, datetime) else value


def validate_date_not_future(d, today=None):
    """Reject a date (or datetime, by its date) later than ``today``; return ``d`` unchanged."""
    if d is None:
        return d
    today = today or calendar.today()
    if as_date(d) > as_date(today):
        raise DomainValidationError(
            _l("The date %(date)s is in the future", date=as_date(d).isoformat())
        )
    return d


def validate_date_order(start, end, start_label=None, end_label=None):
    """Require ``end`` strictly after ``start`` (dates or datetimes); skip when either is None.

    ``start_label`` / ``end_label`` (e.g. lazy field labels) name the two values in the message.
    Returns ``(start, end)``.
    """
    if start is None or end is None:
        return start, end
    if isinstance(start, datetime) != isinstance(end, datetime):
        start, end = as_date(start), as_date(end)
    if not end > start:
        raise DomainValidationError(
            _l(
                "%(end_label)s (%(end)s) must be after %(start_label)s (%(start)s)",
                end_label=end_label or _l("The end"),
                end=end.isoformat(sep=" ") if isinstance(end, datetime) else end.isoformat(),
                start_label=start_label or _l("the start"),
                start=start.isoformat(sep=" ") if isinstance(start, datetime) else start.isoformat(),
            )
        )
    return start, end


QUARTER_PATTERN = re.compile(r"^\d{4}Q[1-4]$")


def validate_quarter(value):
    """A quarter written as year and number ("2026Q4"; "2026q4" and spaces are tidied)."""
    quarter = _WHITESPACE.sub("", str(value)).upper()
    if not QUARTER_PATTERN.match(quarter) or int(quarter[:4]) < 1900:
        raise DomainValidationError(_l("Write the quarter as a year and a quarter number, e.g. 2026Q4"))
    return quarter


# --------------------------------------------------------------------------------------------
# Passwords: the rule is app/core/passwords.py's, set by the district in the parameters table.
def password_complexity(password):
    """FAB's password validator (FAB_PASSWORD_COMPLEXITY_VALIDATOR): app/core/passwords.py's
    policy, raising FAB's PasswordComplexityValidationError with the rules the password breaks."""
    from app.core import passwords  # lazy: passwords reads the models, whose package imports this module

    passwords.password_complexity(password)


def integer_bounds(column):
    """(smallest, biggest) whole number an integer column's database type holds — PostgreSQL's
    integer is 32-bit, SQLite's and bigint 64-bit — or None for a column of another type."""
    for kind, bits in ((BigInteger, 64), (SmallInteger, 16), (Integer, 32)):
        if isinstance(getattr(column, "type", None), kind):
            return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return None
