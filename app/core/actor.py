"""Who is acting: the signed-in user of a web or API request, or the user a CLI command or a
Celery task acts for (``acting_as``). Scope and audit both ask this module, never flask directly."""
import uuid
from contextlib import contextmanager
from contextvars import ContextVar

from flask import g, has_request_context, request

_acting = ContextVar("gongjian_acting", default=None)


@contextmanager
def acting_as(user, via="cli", request_id=None):
    """Run a block as ``user`` (None for the system itself), e.g. a CLI command or a task."""
    token = _acting.set({"user": user, "via": via, "request_id": request_id or uuid.uuid4().hex})
    try:
        yield user
    finally:
        _acting.reset(token)


def _request_user():
    user = getattr(g, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return user
    try:
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            return current_user._get_current_object()
    except Exception:  # pragma: no cover - no login manager (bare app)
        return None
    return None


def current_user():
    """The acting user, or None (anonymous request, or system work)."""
    acting = _acting.get()
    if acting is not None:
        return acting["user"]
    if has_request_context():
        return _request_user()
    return None


def current_via():
    acting = _acting.get()
    if acting is not None:
        return acting["via"]
    if has_request_context():
        return "api" if request.path.startswith("/api/") else "web"
    return "system"


def current_client_addr():
    if _acting.get() is None and has_request_context():
        return request.remote_addr
    return None


def current_request_id():
    acting = _acting.get()
    if acting is not None:
        return acting["request_id"]
    if has_request_context():
        if "request_id" not in g:
            g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
        return g.request_id
    return None


def is_system():
    """True for work no user acts for (migrations, seeding, scheduled scans)."""
    acting = _acting.get()
    if acting is not None:
        return acting["user"] is None
    return not has_request_context()
