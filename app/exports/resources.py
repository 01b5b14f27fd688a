"""What can be exported: every list screen that has a REST API (``party_member``, ``audit_log``…),
found from the registered views, and what a job exports, in words.

Kinds of job: ``list`` (any list screen, as CSV or XLSX), ``report`` (app/statistics/catalogue.py)
and ``letters`` (app/letters/feedback.py, a ZIP); the last two write their own files.
"""
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from app.core import policy
from app.core.roles import holds
from app.exports.query import export_column_names
from app.statistics.catalogue import report_title

LIST_FORMATS = ("csv", "xlsx")
KIND_FORMATS = {"list": LIST_FORMATS, "report": ("xlsx",), "letters": ("zip",)}
REPORT_PERMISSION = "Report"
NOT_EXPORTED = {"export_job"}


@dataclass
class ExportResource:
    """A list that can be exported: its screen (columns, labels, filters) and its REST API."""

    name: str
    view: object
    api: object

    @property
    def permission(self):
        return self.view.class_permission_name

    @property
    def title(self):
        return str(self.view.list_title)


def resources():
    """Every exportable list by its REST resource name (``party_member``, ``audit_log``…)."""
    cache = current_app.extensions.setdefault("gongjian_export_resources", {})
    if not cache:
        cache.update(_find_resources(current_app.appbuilder))
    return cache


def _find_resources(appbuilder):
    screens = {}
    for view in appbuilder.baseviews:
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if model is not None and getattr(view, "list_columns", None) and hasattr(view, "masked_columns"):
            screens.setdefault(model, view)  # the menu screen is registered before its tabs
    found = {}
    for view in appbuilder.baseviews:
        name = getattr(view, "resource_name", None)
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if name and name not in NOT_EXPORTED and model in screens and getattr(view, "route_base", "").startswith("/api/"):
            found[name] = ExportResource(name, screens[model], view)
    return found


def resource_for_view(view):
    """The resource name under which a list screen's rows are exported (None: not exportable)."""
    model = view.datamodel.obj
    for name, resource in resources().items():
        if resource.view.datamodel.obj is model:
            return name
    return None


def can_read(user, permission):
    """Whether ``user`` (None: the signed-in user) may read ``permission``'s records."""
    return current_app.appbuilder.sm.has_access("can_read", permission) if user is None else \
        holds(user, "can_read", permission)


def holds_personal_data(kind, resource):
    """Whether an export's file has personal fields among its columns (the list's columns that
    the field policy names; reports and letters never hold any)."""
    found = resources().get(resource) if kind == "list" else None
    if found is None:
        return False
    personal = policy.personal_fields(found.view.datamodel.obj, include_secrets=False)
    return any(name in personal for name in export_column_names(found.view))


def job_title(job):
    """What a job exports, in words: the list's title, the report's, or "feedback letters"."""
    if job.kind == "list":
        return resources()[job.resource].title
    if job.kind == "report":
        return str(report_title(job.resource))
    return _("Feedback letters")
