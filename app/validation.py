"""Domain format rules of Gongjian: the one place that says what a valid value looks like.

Every rule is a plain function that takes a raw value, returns the normalized value and raises
:class:`DomainValidationError` with a translatable message when the value is wrong:

* :func:`validate_id_card` - PRC resident ID-card number (GB 11643-1999, 18 characters);
* :func:`validate_credit_code` - unified social credit code of a unit (GB 32100-2015);
* :func:`validate_mobile` - mainland mobile phone number;
* :func:`validate_hours` - hours of one service record;
* :func:`validate_date_not_future`, :func:`validate_date_order` - date sanity.

Screens (WTForms) and the REST API (marshmallow) use the same functions through
:func:`wtforms_validator` and :func:`marshmallow_validator`, so a user sees the same message
wherever the value is entered.  Messages are lazy strings (``flask_babel.lazy_gettext``) with
English msgids; they are translated when rendered, so importing this module needs no app context.
"""
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

from models.base import local_now

__all__ = [
    "DomainValidationError",
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
    "wtforms_validator",
    "marshmallow_validator",
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



def local_today():
    """The district's date (Asia/Shanghai), not the server's: on a UTC server the two differ
    from 00:00 to 08:00 local time, when a date entered today would be "in the future"."""
    return local_now().date()

def _is_blank(value):
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
    today = today or local_today()
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


def _as_date(value):
    return value.date() if isinstance(value, datetime) else value


def validate_date_not_future(d, today=None):
    """Reject a date (or datetime, by its date) later than ``today``; return ``d`` unchanged."""
    if d is None:
        return d
    today = today or local_today()
    if _as_date(d) > _as_date(today):
        raise DomainValidationError(
            _l("The date %(date)s is in the future", date=_as_date(d).isoformat())
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
        start, end = _as_date(start), _as_date(end)
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


def quarter_start(quarter):
    """The first day of a valid quarter label ("2026Q4" → 2026-10-01)."""
    return date(int(quarter[:4]), 3 * int(quarter[5]) - 2, 1)


# --------------------------------------------------------------------------------------------
# Adapters: one rule, one message on screens and in the API
# --------------------------------------------------------------------------------------------


def wtforms_validator(fn, normalize=False, **kwargs):
    """Wrap a rule as a WTForms validator ``(form, field)``.

    Empty values pass (use DataRequired/Optional for required-ness).  With ``normalize=True`` the
    field's data is replaced by the rule's return value (e.g. 'x' -> 'X', '+86 138...' -> '138...').
    Extra keyword arguments are passed to ``fn``.
    """
    from wtforms.validators import ValidationError

    def _validate(form, field):
        if _is_blank(field.data):
            return
        try:
            result = fn(field.data, **kwargs)
        except DomainValidationError as exc:
            raise ValidationError(str(exc.message)) from None
        if normalize:
            field.data = result

    _validate.__name__ = "wtforms_" + getattr(fn, "__name__", "validator")
    return _validate


def marshmallow_validator(fn, **kwargs):
    """Wrap a rule as a marshmallow field validator ``(value)``; None and blank strings pass."""
    from marshmallow import ValidationError

    def _validate(value):
        if _is_blank(value):
            return
        try:
            fn(value, **kwargs)
        except DomainValidationError as exc:
            raise ValidationError(str(exc.message)) from None

    _validate.__name__ = "marshmallow_" + getattr(fn, "__name__", "validator")
    return _validate


# --------------------------------------------------------------------------------------------
# Record rules: checks on a whole record (formats of known columns, dates in order, uniqueness,
# domain constraints). Screens (form_with_record_rules) and the API (raise_for_record) both run
# ``check_record``, so a user gets the same message wherever the record is entered.
# --------------------------------------------------------------------------------------------

# Columns whose format is checked (and normalised) on every model that has them.
COLUMN_FORMATS = {
    "id_card": validate_id_card,
    "credit_code": validate_credit_code,
    "phone": validate_mobile,
    "liaison_phone": validate_mobile,
    "grid_worker_phone": validate_mobile,
    "hours": lambda value: float(validate_hours(value)),
    "quarter": validate_quarter,
}
# Dates that may not lie in the future.
PAST_DATES = ("registered_on", "confirmed_on", "signed_on", "served_on", "verified_on", "party_joined_on",
              "claimed_on", "submitted_on", "letter_sent_on")
# (start, end) pairs that must be in order, per column names.
DATE_ORDERS = (("starts_on", "ends_on"), ("registered_on", "confirmed_on"), ("registered_on", "valid_until"),
               ("served_on", "verified_on"), ("checked_in_at", "checked_out_at"))
PERIOD_PATTERN = re.compile(r"^\d{4}(Q[1-4])?$")


class RecordInvalid(Exception):
    """A record breaks one or more rules: ``errors`` maps field name → [messages]."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {', '.join(str(m) for m in v)}" for k, v in errors.items()))

    def messages(self):
        return {field: [str(m) for m in msgs] for field, msgs in self.errors.items()}


class DuplicateRefused(RecordInvalid):
    """A write refused because another writer took its unique key first. FAB's screens flash
    ``str(exc)``: it reads as the message alone."""

    def __str__(self):
        return "; ".join(str(m) for msgs in self.errors.values() for m in msgs)


RECORD_RULES = {}
# Rules that look for another record with the same key (the same person...): they run only on
# an otherwise valid record, so a duplicate is never told to someone whose record is refused anyway.
DUPLICATE_RULES = {}


def record_rule(table_name, duplicate=False):
    """Register a rule ``fn(rec, pk) -> iterable of (field, message)`` for a table; with
    ``duplicate=True`` it runs only when every other rule passed."""

    def register(fn):
        (DUPLICATE_RULES if duplicate else RECORD_RULES).setdefault(table_name, []).append(fn)
        return fn

    return register


def _has(model, column):
    return column in model.__table__.c


def check_record(model, rec, pk=None, others_valid=True):
    """Run every rule for ``model`` on ``rec`` (anything with attributes); normalise formats in
    place. Returns {field: [messages]} (empty when the record is valid). The duplicate rules run
    last, and only when the record is otherwise valid (``others_valid``: the form's own checks
    passed too)."""
    errors = {}

    def add(field, message):
        errors.setdefault(field, []).append(message)

    for column, fn in COLUMN_FORMATS.items():
        if _has(model, column) and not _is_blank(getattr(rec, column, None)):
            try:
                setattr(rec, column, fn(getattr(rec, column)))
            except DomainValidationError as exc:
                add(column, exc.message)
    for column in PAST_DATES:
        if _has(model, column):
            try:
                validate_date_not_future(getattr(rec, column, None))
            except DomainValidationError as exc:
                add(column, exc.message)
    for start, end in DATE_ORDERS:
        if _has(model, start) and _has(model, end) and end not in errors:
            try:
                validate_date_order(getattr(rec, start, None), getattr(rec, end, None),
                                    _label(start), _label(end))
            except DomainValidationError as exc:
                add(end, exc.message)
    for rule in RECORD_RULES.get(model.__tablename__, []):
        for field, message in rule(rec, pk) or ():
            add(field, message)
    if errors or not others_valid:
        return errors
    for rule in DUPLICATE_RULES.get(model.__tablename__, []):
        for field, message in rule(rec, pk) or ():
            add(field, message)
    return errors


def _label(column):
    from views.labels import LABELS

    return LABELS.get(column, column)


def raise_for_record(item, editing=False):
    """API path: check a loaded item, raising RecordInvalid (answered 400 with the fields)."""
    from sqlalchemy import inspect as sa_inspect

    pk = sa_inspect(item).identity[0] if editing and sa_inspect(item).identity else None
    errors = check_record(type(item), item, pk)
    if errors:
        audit_duplicates(errors, pk)
        raise RecordInvalid(errors)


class _FormRecord:
    """The record as the form would save it: the stored item's values under the form's data."""

    def __init__(self, form, existing):
        object.__setattr__(self, "_form", form)
        object.__setattr__(self, "_existing", existing)

    def __getattr__(self, name):
        form = object.__getattribute__(self, "_form")
        if name in form._fields:
            return form._fields[name].data
        existing = object.__getattribute__(self, "_existing")
        return getattr(existing, name, None) if existing is not None else None

    def __setattr__(self, name, value):
        form = object.__getattribute__(self, "_form")
        if name in form._fields:
            form._fields[name].data = value


def form_with_record_rules(form_class, model, editing):
    """Screen path: a form class whose ``validate`` also runs the record rules, putting each
    message on its field so the user keeps what they typed."""
    from flask import flash, request

    class RecordRulesForm(form_class):
        def validate(self, extra_validators=None):
            valid = super().validate(extra_validators=extra_validators)
            pk = request.view_args.get("pk") if editing and request.view_args else None
            existing = _load_existing(model, pk)
            errors = check_record(model, _FormRecord(self, existing), pk, others_valid=valid)
            audit_duplicates(errors, pk)
            for field, messages in errors.items():
                if field in self._fields:
                    self._fields[field].errors = list(self._fields[field].errors) + [str(m) for m in messages]
                else:
                    for message in messages:
                        flash(str(message), "danger")
            return valid and not errors

    RecordRulesForm.__name__ = form_class.__name__
    return RecordRulesForm


def _load_existing(model, pk):
    if pk is None:
        return None
    from app.extensions import db

    with db.session.no_autoflush:
        return db.session.get(model, int(pk))


# --- rules per record type ----------------------------------------------------------------


DUPLICATE_PERSON = _l("This person is already registered; ask the organisation department")


@record_rule("party_member", duplicate=True)
def _member_unique_id_card(rec, pk):
    """One person once, district-wide, matched on the keyed hash. The answer is the same wherever
    the registered person lives (it names no area, community or record)."""
    from flask import current_app
    from sqlalchemy import select

    from app.extensions import db
    from app.masking import id_card_digest
    from models import PartyMember

    if _is_blank(rec.id_card):
        return
    try:
        digest = id_card_digest(rec.id_card, current_app.config["PERSONAL_DATA_HASH_KEY"])
    except ValueError:
        return
    query = select(PartyMember.id, PartyMember.area_id).where(PartyMember.id_card_digest == digest)
    if pk is not None:
        query = query.where(PartyMember.id != int(pk))
    with db.session.no_autoflush:
        existing = db.session.execute(query.limit(1)).first()
    if existing is not None:
        yield "id_card", DuplicateHit(DUPLICATE_PERSON, "party_member", existing.id, existing.area_id,
                                      _identity_details("party_member", {"id_card": rec.id_card}))


@record_rule("service_record")
def _service_needs_doer(rec, pk):
    if rec.member is None and rec.unit is None and getattr(rec, "member_id", None) is None \
            and getattr(rec, "unit_id", None) is None:
        yield "member", _l("Choose the Party member or the unit who did the service")


@record_rule("project_claim")
def _claim_needs_claimant(rec, pk):
    if rec.member is None and rec.unit is None and getattr(rec, "member_id", None) is None \
            and getattr(rec, "unit_id", None) is None:
        yield "unit", _l("Choose the unit or the Party member who claims the project")


def _rejection_needs_reason(rec, pk):
    if rec.status == "rejected" and _is_blank(rec.reject_reason):
        yield "reject_reason", _l("Give the reason for the rejection")


for _table in ("need", "resource", "project"):
    record_rule(_table)(_rejection_needs_reason)


@record_rule("unit_checkin")
def _confirmation_needs_date(rec, pk):
    if rec.status == "confirmed" and rec.confirmed_on is None:
        yield "confirmed_on", _l("A confirmed check-in needs its confirmation date")


@record_rule("evaluation")
def _evaluation_period_and_grade(rec, pk):
    from sqlalchemy import select

    from app.extensions import db
    from models import MemberCheckin

    if not _is_blank(rec.period) and not PERIOD_PATTERN.match(str(rec.period)):
        yield "period", _l("Write the period as a year (2026) or a quarter (2026Q3)")
    grade = rec.grade
    member_id = rec.member.id if rec.member is not None else getattr(rec, "member_id", None)
    if grade is not None and grade.requires_checkin and member_id is not None:
        with db.session.no_autoflush:
            reported = db.session.execute(
                select(MemberCheckin.id).where(MemberCheckin.member_id == member_id).limit(1)
            ).first()
        if reported is None:
            yield "grade", _l("A member who never checked in cannot receive this grade")


@record_rule("resolution")
def _resolution_sign_off(rec, pk):
    if rec.status == "done" and _is_blank(rec.evidence):
        yield "evidence", _l("A resolution can only be signed off as done with evidence")


@record_rule("unit_report")
def _unit_report_rules(rec, pk):
    """Counts are never negative; one report per check-in and quarter, for a quarter that has
    begun by the day it is submitted."""
    for column in ("activities", "members_served", "people_served"):
        value = getattr(rec, column, None)
        if value is not None and value < 0:
            yield column, _l("This number cannot be negative")
    quarter = rec.quarter
    if _is_blank(quarter) or not QUARTER_PATTERN.match(str(quarter)):
        return  # the format rule has already said what is wrong
    submitted_on = _as_date(rec.submitted_on)
    if submitted_on is not None and quarter_start(quarter) > submitted_on:
        yield "quarter", _l("A report cannot be submitted before its quarter begins (%(start)s)",
                            start=quarter_start(quarter).isoformat())
    yield from _unit_report_unique(rec, pk, quarter)


def _unit_report_unique(rec, pk, quarter):
    from sqlalchemy import select

    from app.extensions import db
    from models import UnitReport

    checkin_id = rec.checkin.id if rec.checkin is not None else getattr(rec, "checkin_id", None)
    if checkin_id is None:
        return
    query = select(UnitReport.id).where(UnitReport.checkin_id == checkin_id, UnitReport.quarter == quarter)
    if pk is not None:
        query = query.where(UnitReport.id != int(pk))
    with db.session.no_autoflush:
        if db.session.execute(query).first() is not None:
            yield "quarter", _l("This check-in already has a report for %(quarter)s", quarter=quarter)


# --------------------------------------------------------------------------------------------
# Duplicates: a refused duplicate is logged (who tried, which record it matched), and a unique
# key taken by a concurrent writer between the rules and the write is answered as the rules do.
# --------------------------------------------------------------------------------------------


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
    from app.audit import record_event
    from app.extensions import db

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
    from sqlalchemy.exc import IntegrityError

    from app.extensions import db

    written = _written_values(item)  # a failed flush may expire them
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
UNIQUE_KEY_MESSAGES = {("party_member", ("id_card_digest",)): ("id_card", DUPLICATE_PERSON)}
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$", re.MULTILINE)
_POSTGRESQL_KEY = re.compile(r"Key \((.+?)\)=\(")


def unique_violation(exc, item=None, written=None):
    """A unique-key IntegrityError as the refusal the duplicate rules give: the session rolled
    back, the hit audited, a :class:`DuplicateRefused` on the key's field. None (nothing done) when
    ``exc`` is not a unique-key violation. ``item`` is the record being written, if known, and
    ``written`` its values taken before the write (:func:`_written_values`)."""
    from app.extensions import db

    table, columns = _unique_key_of(exc)
    if table is None:
        return None
    if written is None or getattr(type(item), "__tablename__", None) != table:
        written = _written_values(_written_record(item, table))
    db.session.rollback()
    existing_id, area_id = _existing_key_holder(table, columns, written, written.get("_own_id"))
    field, message = UNIQUE_KEY_MESSAGES.get((table, columns)) or _generic_unique_message(table, columns)
    errors = {field: [DuplicateHit(message, table, existing_id, area_id, _identity_details(table, written))]}
    audit_duplicates(errors, written.get("_own_id"))
    return DuplicateRefused(errors)


def _identity_details(table, values):
    """What the log keeps of the number a duplicate was tried with: masked by the field policy."""
    from app.core import policy

    number = values.get("id_card")
    return {"id_card": policy.audit_value(table, "id_card", number)} if number else {}


def _written_values(item):
    """The column values a record is being written with, without loading anything: its own, and
    the keys of the records its many-to-one links point to; ``_own_id`` is its id when stored."""
    from sqlalchemy import inspect as sa_inspect

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
    from app.extensions import db

    candidates = [item] + list(db.session.new) + list(db.session.dirty)
    return next((obj for obj in candidates
                 if obj is not None and getattr(type(obj), "__tablename__", None) == table), None)


def _existing_key_holder(table, columns, values, own_id):
    """(id, area_id) of the record that holds the key, or (None, None) when unknown."""
    from flask_appbuilder import Model
    from sqlalchemy import select

    from app.extensions import db

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
    labels = ", ".join(str(_label(name)) for name in names)
    return field, _l("A record with the same %(fields)s already exists", fields=labels)


def check_delete(item):
    """Refuse to delete a record other records still point to (check-ins of a member, records of
    an area…): the user gets a message naming what is left instead of a database error."""
    from flask_appbuilder import Model
    from sqlalchemy import inspect as sa_inspect, select

    from app.extensions import db

    mapper = sa_inspect(type(item))
    own_secondaries = {rel.secondary for rel in mapper.relationships if rel.secondary is not None}
    table = type(item).__table__
    for other in Model.metadata.sorted_tables:
        if other in own_secondaries:
            continue  # rows of the record's own many-to-many links go with it
        for fk in other.foreign_keys:
            if fk.column.table is not table:
                continue
            with db.session.no_autoflush:
                found = db.session.execute(select(fk.parent).where(fk.parent == item.id).limit(1)).first()
            if found is not None:
                raise RecordInvalid({"id": [_l(
                    "This record cannot be deleted while other records refer to it (%(table)s); "
                    "remove or move those first", table=_table_label(other.name))]})


def _table_label(table_name):
    from views.labels import TABLE_LABELS

    return TABLE_LABELS.get(table_name, table_name)


# --------------------------------------------------------------------------------------------
# Passwords (FAB calls this for every password set through a screen or its user API).
# --------------------------------------------------------------------------------------------

PASSWORD_MIN_LENGTH = 10


def password_complexity(password):
    """At least 10 characters using at least three of: upper case, lower case, digits, symbols."""
    from flask_appbuilder.exceptions import PasswordComplexityValidationError

    classes = [r"[A-Z]", r"[a-z]", r"[0-9]", r"[^A-Za-z0-9]"]
    used = sum(1 for pattern in classes if re.search(pattern, password or ""))
    if len(password or "") < PASSWORD_MIN_LENGTH or used < 3:
        raise PasswordComplexityValidationError(str(_l(
            "The password needs at least %(length)d characters and three of: upper-case letters, "
            "lower-case letters, digits, symbols", length=PASSWORD_MIN_LENGTH)))
