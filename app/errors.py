"""Error handling shared by screens and API: rule violations are a clear 400 with the fields in
the API and a message on the screen, never a 500; the session is rolled back so nothing is
half-written."""
from flask import flash, jsonify, redirect, request

from app.extensions import db
from app.scope import ScopeViolation
from app.validation import RecordInvalid


def _is_api():
    return request.path.startswith("/api/")


def register_error_handlers(app):
    @app.errorhandler(RecordInvalid)
    def record_invalid(exc):
        db.session.rollback()
        if _is_api():
            return jsonify(message=exc.messages()), 400
        for field, messages in exc.messages().items():
            for message in messages:
                flash(message, "danger")
        return redirect(request.referrer or "/")

    @app.errorhandler(ScopeViolation)
    def scope_violation(exc):
        db.session.rollback()
        if _is_api():
            return jsonify(message={exc.field: [str(exc.message)]}), 400
        flash(str(exc.message), "danger")
        return redirect(request.referrer or "/")
