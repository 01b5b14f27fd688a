"""Error handling shared by screens and API: rule violations are a clear 400 with the fields in
the API and a message on the screen, never a 500; the session is rolled back so nothing is
half-written. Request arguments FAB cannot use are refused before it reads them
(app/core/request_args.py, installed here), marshmallow's and the database's refusals answered in
the user's words (``schema_messages``, ``refusal_message``)."""
import logging
import re

from flask import current_app, flash, g, jsonify, redirect, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError

from app.core.duplicates import unique_violation
from app.core.filter_values import FilterValueInvalid
from app.core.formats import DomainValidationError
from app.core.policy import PersonalFieldRefused
from app.core.refusals import RecordInvalid
from app.core.request_args import BadArgument, check_request
from app.core.scope import ScopeViolation
from app.extensions import db


def _is_api():
    return request.path.startswith("/api/")


def register_error_handlers(app):
    register_error_pages(app)
    app.before_request(check_request)  # arguments FAB cannot use: BadArgument or 404, below

    @app.errorhandler(BadArgument)
    def bad_argument(exc):
        message = refusal_message(exc)
        if _is_api():
            return jsonify(message=message), 400
        message = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return _error_page(400, ERROR_PAGES[400][0], message)

    @app.errorhandler(PersonalFieldRefused)
    def personal_field_refused(exc):
        message = refusal_message(exc)
        if _is_api():
            return jsonify(message=message), 400
        return _error_page(400, ERROR_PAGES[400][0], exc.message)

    @app.errorhandler(RecordInvalid)
    @app.errorhandler(ScopeViolation)
    def refused_write(exc):
        message = refusal_message(exc)
        if _is_api():
            return jsonify(message=message), 400
        flash_refusal(message)
        return redirect(request.referrer or "/")


# ---- THE error map: a refusal of the request → what the user is told ---------------------------
def refusal_message(exc):
    """What a domain refusal answers, the same on every path (REST 400 body, screen flash, CLI):
    ``{field: [reasons]}`` in the user's language, or the reason alone when it names no field.
    The session is rolled back; a unique key another writer took reads like the duplicate rule
    (and is audited); any other refusal of the database never shows its SQL. None when ``exc``
    is no refusal of the request (a fault: it becomes a 500)."""
    if isinstance(exc, (IntegrityError, DataError)):
        exc = database_error_as_refusal(exc)
    if isinstance(exc, RecordInvalid):
        db.session.rollback()
        return exc.messages()
    if isinstance(exc, (ScopeViolation, PersonalFieldRefused, FilterValueInvalid, BadArgument)):
        db.session.rollback()
        return {exc.field: [str(exc.message)]} if exc.field else str(exc.message)
    if isinstance(exc, DomainValidationError):
        db.session.rollback()
        return str(exc.message)
    return None


def refusal_reasons(message):
    """The reasons of a :func:`refusal_message`, one by one (a screen flashes each)."""
    if isinstance(message, dict):
        return [str(reason) for reasons in message.values() for reason in reasons]
    return [str(message)]


def refusal_text(exc):
    """A refusal as one line — ``field: reason; …`` — for the CLI's error (exit code 1) and a
    task's failed state; None when ``exc`` is no refusal (a fault)."""
    message = refusal_message(exc)
    if message is None:
        return None
    if isinstance(message, dict):
        return "; ".join(f"{field}: {', '.join(map(str, reasons))}" for field, reasons in message.items())
    return str(message)


def flash_refusal(message):
    """A screen's answer to a refusal: each reason flashed as an error."""
    for reason in refusal_reasons(message):
        flash(reason, "danger")


# A write the database refused for a reason no rule foresaw (a constraint, a value its column
# type cannot hold): the request's fault, so a 400, never the database's words.
DATABASE_REFUSED = _l("The record could not be saved: the database does not accept one of its values")

# marshmallow's own messages (English only) → ours. FAB's generated schemas answer with them.
SCHEMA_MESSAGES = [
    (r"Missing data for required field\.", _l("This field is required.")),
    (r"Field may not be null\.", _l("This field may not be empty")),
    (r"Unknown field\.", _l("Unknown field")),
    (r"Invalid input type\.", _l("The request body must be a JSON object")),
    (r"Not a valid integer\.", _l("Not a whole number")),
    (r"Not a valid number\.|Special numeric values .*|Number too large\.", _l("Not a valid number")),
    (r"Not a valid (utf-8 )?string\.", _l("Not valid text")),
    (r"Not a valid boolean\.", _l("Not a valid yes/no value")),
    (r"Not a valid date\.", _l("Not a valid date (YYYY-MM-DD)")),
    (r"Not a valid (naive |aware )?datetime\.", _l("Not a valid date and time")),
    (r"Not a valid (list|tuple|mapping type)\.|Invalid (value|type|input)\.", _l("Invalid value")),
    (r"Not a valid email address\.", _l("Not a valid email address")),
    (r"Longer than maximum length (?P<max>\d+)\.", _l("At most %(max)s characters")),
    (r"Shorter than minimum length (?P<min>\d+)\.", _l("At least %(min)s characters")),
    (r"Length must be between (?P<min>\d+) and (?P<max>\d+)\.", _l("From %(min)s to %(max)s characters")),
    (r"Must be one of: (?P<choices>.*)\.", _l("Must be one of: %(choices)s")),
    (r"Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.",
     _l("Must be from %(min)s to %(max)s")),
    (r"Must be greater than or equal to (?P<min>\S+)\.", _l("Must be at least %(min)s")),
    (r"Must be less than or equal to (?P<max>\S+)\.", _l("Must be at most %(max)s")),
]


def database_error_as_refusal(exc):
    """The database's refusal of a write (``exc``) as the refusal the user is told, the session
    rolled back: a unique key another writer took reads like the duplicate rule (and is
    audited, a :class:`DuplicateRefused` on the key's field); any other refusal says
    DATABASE_REFUSED, the SQL only in the log. Both read as their message alone (``str``), for
    FAB's screens, which flash it."""
    refusal = unique_violation(exc) if isinstance(exc, IntegrityError) else None
    if refusal is not None:
        return refusal
    db.session.rollback()
    logging.getLogger(__name__).warning("database refused a write: %s", exc)
    return DomainValidationError(DATABASE_REFUSED)


def schema_messages(messages):
    """marshmallow's error messages ({field: [message]}, nested for lists and nested schemas) in
    the user's language; messages of our own rules are already translated and pass unchanged."""
    if isinstance(messages, dict):
        return {key: schema_messages(value) for key, value in messages.items()}
    if isinstance(messages, (list, tuple)):
        return [schema_messages(value) for value in messages]
    text = str(messages)
    for pattern, message in SCHEMA_MESSAGES:
        match = re.fullmatch(pattern, text)
        if match:
            return str(message) % match.groupdict() if match.groupdict() else str(message)
    return text


ERROR_PAGES = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    403: (_l("Not allowed"), _l("Your role does not allow this.")),
    404: (_l("Not found"), _l("There is no such page or record, or it is outside your area.")),
    405: (_l("Not allowed"), _l("This page cannot be used that way.")),
    413: (_l("File too large"), _l("The uploaded file is larger than allowed.")),
    500: (_l("Something went wrong"), _l("The error has been logged. Nothing was saved; please try again.")),
}


def _error_page(code, title, message):
    if _is_api():
        return jsonify(message=str(message)), code
    if "user" not in g:  # errors raised before FAB's before_request (CSRF) have no g.user yet
        from flask_login import current_user

        g.user = current_user
    return render_template("gongjian/error.html", title=title, message=message,
                           appbuilder=current_app.appbuilder, base_template=current_app.appbuilder.base_template), code


def register_error_pages(app):
    """Error pages in the user's language (Werkzeug's are English only)."""
    for code, (title, message) in ERROR_PAGES.items():
        app.register_error_handler(code, lambda exc, c=code, t=title, m=message: _error_page(c, t, m))

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _error_page(400, _l("The form has expired"),
                           _l("The page was open too long or was sent twice. Reload it and try again."))
