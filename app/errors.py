"""Error handling shared by screens and API: rule violations are a clear 400 with the fields in
the API and a message on the screen, never a 500; the session is rolled back so nothing is
half-written."""
from flask import current_app, flash, g, jsonify, redirect, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError

from app.core.policy import PersonalFieldRefused
from app.extensions import db
from app.scope import ScopeViolation
from app.validation import RecordInvalid


def _is_api():
    return request.path.startswith("/api/")


def register_error_handlers(app):
    register_error_pages(app)

    @app.errorhandler(RecordInvalid)
    def record_invalid(exc):
        db.session.rollback()
        if _is_api():
            return jsonify(message=exc.messages()), 400
        for field, messages in exc.messages().items():
            for message in messages:
                flash(message, "danger")
        return redirect(request.referrer or "/")

    @app.errorhandler(PersonalFieldRefused)
    def personal_field_refused(exc):
        db.session.rollback()
        if _is_api():
            return jsonify(message={exc.field: [str(exc.message)]}), 400
        return _error_page(400, ERROR_PAGES[400][0], exc.message)

    @app.errorhandler(ScopeViolation)
    def scope_violation(exc):
        db.session.rollback()
        if _is_api():
            return jsonify(message={exc.field: [str(exc.message)]}), 400
        flash(str(exc.message), "danger")
        return redirect(request.referrer or "/")


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
