"""Record rules: checks on a whole record (formats of known columns, dates in order, domain
constraints, duplicates) registered per table. Screens (:func:`form_with_record_rules`) and the
API (:func:`raise_for_record`) both run :func:`check_record`, so a user gets the same message
wherever the record is entered; :func:`check_delete` refuses to delete a record others point to.
A capability adds the rules of its own tables with :func:`record_rule`.
"""
from flask import current_app, flash, request
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from app.core.calendar import PERIOD_LABEL, period_bounds
from app.core.duplicates import DUPLICATE_PERSON, DuplicateHit, audit_duplicates, identity_details
from app.core.formats import (
    QUARTER_PATTERN,
    DomainValidationError,
    as_date,
    integer_bounds,
    is_blank,
    validate_credit_code,
    validate_date_not_future,
    validate_date_order,
    validate_hours,
    validate_id_card,
    validate_mobile,
    validate_quarter,
)
from app.core.labels import field_label, table_label
from app.core.masking import id_card_digest
from app.core.refusals import RecordInvalid
from app.extensions import db
from models import MemberCheckin, PartyMember, UnitReport

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

RECORD_RULES = {}
# Rules that look for another record with the same key (the same person...): they run only on
# an otherwise valid record, so a duplicate is never told to someone whose record is refused anyway.
DUPLICATE_RULES = {}

# A whole number past its column's type (the API says the same, app/core/errors.py).
OUT_OF_RANGE = _l("Must be from %(min)s to %(max)s")


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
        if _has(model, column) and not is_blank(getattr(rec, column, None)):
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
                                    field_label(start), field_label(end))
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


def raise_for_record(item, editing=False):
    """API path: check a loaded item, raising RecordInvalid (answered 400 with the fields)."""
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

    class RecordRulesForm(form_class):
        def validate(self, extra_validators=None):
            valid = super().validate(extra_validators=extra_validators)
            pk = request.view_args.get("pk") if editing and request.view_args else None
            existing = _load_existing(model, pk)
            valid = _whole_numbers_fit(self, model) and valid
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


def _whole_numbers_fit(form, model):
    """Whole numbers typed on a form must fit their column's database type (the API checks the
    same bounds): past them PostgreSQL refuses the write and SQLite's driver overflows."""
    columns = sa_inspect(model).columns
    fit = True
    for name, field in form._fields.items():
        bounds = integer_bounds(columns[name]) if name in columns else None
        if bounds and isinstance(field.data, int) and not bounds[0] <= field.data <= bounds[1]:
            field.errors = list(field.errors) + [str(OUT_OF_RANGE % {"min": bounds[0], "max": bounds[1]})]
            fit = False
    return fit


def _load_existing(model, pk):
    if pk is None:
        return None
    with db.session.no_autoflush:
        return db.session.get(model, int(pk))


def check_delete(item):
    """Refuse to delete a record other records still point to (check-ins of a member, records of
    an area…): the user gets a message naming what is left instead of a database error."""
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
                    "remove or move those first", table=table_label(other.name))]})


# --- rules per record type ----------------------------------------------------------------


@record_rule("party_member", duplicate=True)
def _member_unique_id_card(rec, pk):
    """One person once, district-wide, matched on the keyed hash. The answer is the same wherever
    the registered person lives (it names no area, community or record)."""
    if is_blank(rec.id_card):
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
                                      identity_details("party_member", {"id_card": rec.id_card}))


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
    if rec.status == "rejected" and is_blank(rec.reject_reason):
        yield "reject_reason", _l("Give the reason for the rejection")


for _table in ("need", "resource", "project", "project_claim"):
    record_rule(_table)(_rejection_needs_reason)


@record_rule("unit_checkin")
def _confirmation_needs_date(rec, pk):
    if rec.status == "confirmed" and rec.confirmed_on is None:
        yield "confirmed_on", _l("A confirmed check-in needs its confirmation date")


@record_rule("evaluation")
def _evaluation_period_and_grade(rec, pk):
    if not is_blank(rec.period) and not PERIOD_LABEL.match(str(rec.period)):
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
    if rec.status == "done" and is_blank(rec.evidence):
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
    if is_blank(quarter) or not QUARTER_PATTERN.match(str(quarter)):
        return  # the format rule has already said what is wrong
    submitted_on = as_date(rec.submitted_on)
    quarter_start = period_bounds(quarter)[0]
    if submitted_on is not None and quarter_start > submitted_on:
        yield "quarter", _l("A report cannot be submitted before its quarter begins (%(start)s)",
                            start=quarter_start.isoformat())
    yield from _unit_report_unique(rec, pk, quarter)


def _unit_report_unique(rec, pk, quarter):
    checkin_id = rec.checkin.id if rec.checkin is not None else getattr(rec, "checkin_id", None)
    if checkin_id is None:
        return
    query = select(UnitReport.id).where(UnitReport.checkin_id == checkin_id, UnitReport.quarter == quarter)
    if pk is not None:
        query = query.where(UnitReport.id != int(pk))
    with db.session.no_autoflush:
        if db.session.execute(query).first() is not None:
            yield "quarter", _l("This check-in already has a report for %(quarter)s", quarter=quarter)
