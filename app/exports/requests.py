"""Asking for an export: the one entry screens, the REST API, the CLI and tests call.

* ``check_request`` checks a request (resource, format, filters, the user's right to read the
  resource, a report's period and area);
* ``request_export`` records an export job, writes the request to the audit log and queues the
  job (app/exports/running.py builds its file);
* ``export_to_file`` does the same work synchronously, straight to a file (the CLI).
"""
import json
import os

from flask_babel import gettext as _

from app.core import policy
from app.core.actor import acting_as, current_via
from app.core.audit import record_event
from app.core.scope import scope_for
from app.exports import running
from app.exports.files import Progress
from app.exports.query import ExportInvalid, normalize_filters, valid_order
from app.exports.resources import KIND_FORMATS, REPORT_PERMISSION, can_read, holds_personal_data, resources
from app.extensions import db
from app.statistics import catalogue
from app.statistics.context import ReportParamError, make_context
from models import ExportJob


def check_request(user, kind, resource, fmt, filters, params):
    """Validate a request; returns (normalized filters, params) or raises ExportInvalid."""
    if kind not in KIND_FORMATS:
        raise ExportInvalid({"kind": [_("Unknown kind of export")]})
    if fmt not in KIND_FORMATS[kind]:
        raise ExportInvalid({"format": [_("Format must be one of: %(formats)s", formats=", ".join(KIND_FORMATS[kind]))]})
    if params is not None and not isinstance(params, dict):
        raise ExportInvalid({"params": [_("params must be a JSON object")]})
    params = dict(params or {})
    if kind != "list":
        return [], check_report_params(user, kind, resource, params)
    found = resources().get(resource)
    if found is None or not can_read(user, found.permission):
        raise ExportInvalid({"resource": [_("No such list to export: %(name)s", name=resource)]})
    if "order" in params and valid_order(found.view, params["order"]) is None:
        raise ExportInvalid({"params": [_("order must be [column, \"asc\" or \"desc\"]")]})
    normalized = normalize_filters(found.view, filters, found.api)
    _refuse_personal_keys(found.view.datamodel.obj, "filters", [f["col"] for f in normalized])
    _refuse_personal_keys(found.view.datamodel.obj, "params", [(params.get("order") or [None])[0]])
    return normalized, params


def _refuse_personal_keys(model, field, names):
    """The field policy: no filter or order on a personal field the requester sees masked."""
    try:
        policy.refuse_personal_keys(model, names)
    except policy.PersonalFieldRefused as exc:
        raise ExportInvalid({field: [f"{exc.field}: {exc.message}"]}) from exc


def check_report_params(user, kind, resource, params):
    """A report or letters job: the user may read statistics, the report exists, the period and
    area are valid and the area is in the user's scope (app/statistics/context.py checks them)."""
    if not can_read(user, REPORT_PERMISSION):
        raise ExportInvalid({"resource": [_("No such list to export: %(name)s", name=resource)]})
    try:
        if kind == "report" and resource != catalogue.ALL:
            catalogue.get_report(resource)
        make_context(params, scope=scope_for(user))
    except ReportParamError as exc:
        field = "resource" if exc.field == "report" else exc.field
        raise ExportInvalid({field: [str(exc.message)]}) from None
    return params


def request_export(user, *, kind="list", resource, fmt, filters=None, params=None, via=None):
    """Record an export job for ``user``, audit the request, and queue it; returns the job."""
    fmt = (fmt or "").lower()
    filters, params = check_request(user, kind, resource, fmt, filters, params)
    unmasked = holds_personal_data(kind, resource) and policy.sees_in_full(user)
    job = ExportJob(kind=kind, resource=resource, format=fmt, state="pending", rows_done=0,
                    filters=json.dumps(filters, ensure_ascii=False), params=json.dumps(params, ensure_ascii=False),
                    via=via or _current_via(), created_by_id=user.id, personal_data_unmasked=unmasked)
    db.session.add(job)
    db.session.commit()
    record_event("export", "export_job", job.id, summary=f"{resource}.{fmt}",
                 details={"kind": kind, "resource": resource, "format": fmt, "filters": filters, "params": params,
                          "unmasked": unmasked})
    running.queue_job(job)
    return job


def _current_via():
    via = current_via()
    return via if via in ("web", "api", "cli", "task") else "web"


def export_to_file(user, resource, fmt, filters, out_path, via="cli"):
    """Export a list as ``user`` straight to ``out_path`` (temporary name, then renamed);
    audited like a job. Returns the number of rows."""
    fmt = (fmt or "").lower()
    with acting_as(user, via=via):
        filters, params = check_request(user, "list", resource, fmt, filters, {})
        record_event("export", "export_job", None, summary=f"{resource}.{fmt}",
                     details={"kind": "list", "resource": resource, "format": fmt, "filters": filters,
                              "out": os.path.basename(out_path),
                              "unmasked": holds_personal_data("list", resource) and policy.sees_in_full(user)})
        directory = os.path.dirname(os.path.abspath(out_path))
        partial = os.path.join(directory, f".{os.path.basename(out_path)}.part")
        try:
            rows = running.write_list(resource, fmt, filters, params, partial, Progress())
            os.replace(partial, out_path)
        finally:
            running.remove_file(partial)
    return rows
