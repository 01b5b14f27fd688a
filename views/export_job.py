"""Export jobs (导出任务): the 我的导出 screen with live progress and downloads, the 导出 button's
endpoint behind every list screen, and the ``export_job`` REST resource.

Requesting an export reads records, it changes none: every method here needs only the read
permission of ``ExportJob`` (so the auditor can export the log, 三员分立 intact), and the list
being exported is checked against the user's own read permission by app/exports/requests.py.
A job is seen by its requester and by auditors; its file goes to the requester only (auditors
and anyone else get 404, and the refusal is audited).
"""
from urllib.parse import parse_qsl

from flask import abort, flash, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.api import protect, safe
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import false
from werkzeug.datastructures import MultiDict

from app.attachments import printable, request_summary
from app.core.actor import current_user
from app.core.errors import refusal_message
from app.exports.access import (
    download_refusal,
    downloadable_file,
    get_visible_job,
    job_file,
    record_download,
    record_download_refused,
    visible_clause,
    visible_jobs,
)
from app.exports.query import ExportInvalid, screen_filters, screen_order
from app.exports.requests import request_export
from app.exports.resources import job_title, resources
from app.extensions import db
from models import EXPORT_FORMATS, EXPORT_KINDS, EXPORT_STATES, ExportJob
from views.api_base import GongjianApi
from views.audit_display import local_time
from views.base import METHOD_PERMISSIONS, GongjianBaseView, choice_formatter

# Requesting, watching and downloading an export are reads.
EXPORT_PERMISSIONS = {**METHOD_PERMISSIONS, "start": "read", "progress": "read", "download": "read",
                      "post": "read"}
JOB_COLUMNS = ["id", "kind", "resource", "format", "state", "rows_done", "rows_total", "row_count", "error",
               "file_name", "file_size", "via", "created_at", "started_at", "finished_at", "expires_at"]


class FilterVisibleJobs(BaseFilter):
    """The requester's own jobs; every job for an auditor."""

    name = _l("Visible")
    arg_name = "visible"

    def apply(self, query, value):
        user = current_user()
        if user is None:
            return query.filter(false())
        where = visible_clause(user)
        return query if where is None else query.filter(where)


def job_json(job):
    return {
        **{name: _json_value(getattr(job, name)) for name in JOB_COLUMNS},
        "percent": job.percent,
        "created_by": job.created_by.username if job.created_by else None,
        "download_url": f"/api/v1/export_job/{job.id}/download" if downloadable_file(current_user(), job)
        else None,
    }


def _json_value(value):
    return value.isoformat() + "Z" if hasattr(value, "isoformat") else value


def resource_label(job):
    """job_title, or the code of a list or report that no longer exists."""
    try:
        return job_title(job)
    except Exception:  # noqa: BLE001 - a list or report renamed since: show its code
        return job.resource


def job_download(pk, not_found):
    """THE download of an export file, for the screen and the API alike: the file to its
    requester only (app/exports/access.py download_refusal), audited; anyone else gets ``not_found()``
    (404, as for a job that does not exist) and the refusal is audited as a refusal."""
    user = current_user()
    job = get_visible_job(user, pk)
    refusal = download_refusal(user, job)
    if refusal is not None:
        record_download_refused(getattr(job, "id", None) or printable(pk, 50), refusal, request_summary())
        return not_found()
    path = job_file(job)
    if path is None:  # the requester's job has no file (yet, or any more)
        return not_found()
    record_download(job)
    return send_file(path, as_attachment=True, download_name=job.file_name, max_age=0)


def _abort_404():
    abort(404)


class ExportJobView(GongjianBaseView):
    """我的导出: the user's export jobs, with a live progress bar and the download link."""

    model = ExportJob
    method_permission_name = EXPORT_PERMISSIONS
    base_permissions = ["can_read"]
    base_filters = [["id", FilterVisibleJobs, None]]
    list_template = "gongjian/export_jobs.html"
    list_title = _l("My exports")
    list_columns = ["created_at", "title", "format", "state", "progress", "row_count", "download", "error"]
    show_columns = ["created_at", "title", "format", "state", "progress", "row_count", "file_name", "file_size",
                    "error", "started_at", "finished_at", "expires_at", "created_by", "via"]
    search_columns = ["state", "format", "created_at"]
    label_columns = {"progress": _l("Export progress"), "download": _l("File"), "title": _l("List"),
                     "format": _l("Format"), "state": _l("State"), "error": _l("Error"), "row_count": _l("Rows"),
                     "file_size": _l("Size (bytes)"), "expires_at": _l("Expires"), "finished_at": _l("Finished"),
                     "started_at": _l("Started"), "file_name": _l("File name"), "created_by": _l("Requested by")}
    choice_columns = {"state": EXPORT_STATES, "format": EXPORT_FORMATS, "kind": EXPORT_KINDS}
    formatters_columns = {"created_at": local_time, "started_at": local_time, "finished_at": local_time,
                          "expires_at": local_time}

    def __init__(self, **kwargs):
        self.formatters_columns = {**self.formatters_columns, "progress": progress_bar, "download": download_link,
                                   "title": resource_label}
        super().__init__(**kwargs)

    @expose("/start", methods=["POST"])
    @has_access
    def start(self):
        """The 导出 button of a list screen: export what that screen shows, then come here."""
        resource = request.form.get("resource", "")
        found = resources().get(resource)
        if found is None:
            abort(404)
        args = MultiDict(_parse_query(request.form.get("query", "")))
        params = {}
        order = screen_order(found.view, args)
        if order:
            params["order"] = order
        try:
            job = request_export(g.user, resource=resource, fmt=request.form.get("format", ""),
                                 filters=screen_filters(found.view, args), params=params, via="web")
        except ExportInvalid as exc:  # 400 on the 我的导出 page, the field and the reason flashed; no job
            for field, reasons in refusal_message(exc).items():
                for reason in reasons:
                    flash(_("Cannot export (%(field)s): %(reason)s", field=field, reason=reason), "danger")
            return self.list(), 400
        flash(_("Export #%(id)d started: it appears below when ready", id=job.id), "info")
        return redirect(url_for("ExportJobView.list"))

    @expose("/progress")
    @has_access
    def progress(self):
        """JSON state of the user's jobs, polled by the progress bars."""
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip().isdigit()][:100]
        jobs = db.session.execute(visible_jobs(g.user).where(ExportJob.id.in_(ids))).scalars()
        return jsonify({str(job.id): {"state": job.state, "rows_done": job.rows_done, "rows_total": job.rows_total,
                                      "percent": job.percent, "finished": job.finished} for job in jobs})

    @expose("/download/<pk>")
    @has_access
    def download(self, pk):
        return job_download(pk, _abort_404)


def _parse_query(query):
    return parse_qsl(query.lstrip("?"), keep_blank_values=False)


def progress_bar(progress):
    """A progress bar that static/js/exports.js keeps up to date while the job runs."""
    job = progress
    label = choice_formatter(EXPORT_STATES)(job.state)
    total = f"{job.rows_total:,}" if job.rows_total is not None else "?"
    style = {"done": "progress-bar-success", "failed": "progress-bar-danger", "expired": ""}.get(job.state, "active")
    return Markup(
        '<div class="progress gj-export-progress" data-job="{id}" data-finished="{finished}" style="min-width:160px">'
        '<div class="progress-bar progress-bar-striped {style}" role="progressbar" style="width:{pct}%">'
        '{pct}%</div></div><small class="gj-export-rows" data-job="{id}">{label} {done:,} / {total}</small>'
    ).format(id=job.id, finished="1" if job.finished else "0", style=style, pct=job.percent, label=label,
             done=job.rows_done or 0, total=total)


def download_link(job):
    if downloadable_file(current_user(), job) is None:
        return ""
    return Markup('<a class="btn btn-xs btn-primary" href="{url}"><i class="fa fa-download"></i> {name}</a>').format(
        url=url_for("ExportJobView.download", pk=job.id), name=escape(job.file_name))


class ExportJobApi(GongjianApi):
    """``POST /api/v1/export_job/`` {resource, format, filters} → the job;
    ``GET /api/v1/export_job/<id>`` → its state; ``GET /api/v1/export_job/<id>/download`` → the file."""

    model = ExportJob
    resource_name = "export_job"
    method_permission_name = EXPORT_PERMISSIONS
    include_route_methods = {"get", "get_list", "post", "info", "download"}
    base_filters = [["id", FilterVisibleJobs, None]]
    list_columns = show_columns = JOB_COLUMNS
    search_columns = ["state", "resource", "format", "kind"]
    order_columns = ["id", "created_at"]
    requests_are_reads = True  # POST asks for a file; it changes no record (see the module docstring)

    def post_headless(self):
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return self.response_400(message={"_schema": [_("The request body must be a JSON object")]})
        try:
            job = request_export(current_user(), kind=data.get("kind") or "list", resource=data.get("resource"),
                                 fmt=data.get("format"), filters=data.get("filters"),
                                 params=data.get("params"), via="api")
        except ExportInvalid as exc:
            return self.response_400(message=refusal_message(exc))
        return self.response(201, id=job.id, result=job_json(job))

    def get_headless(self, pk, **kwargs):
        job = get_visible_job(current_user(), pk)
        if job is None:
            return self.response_404()
        return self.response(200, id=job.id, result=job_json(job))

    def pre_get_list(self, data):
        for row in data.get("result", []):
            job = db.session.get(ExportJob, row["id"])
            row.update(job_json(job))

    @expose("/<int:pk>/download", methods=["GET"])
    @protect()
    @safe
    def download(self, pk):
        return job_download(pk, self.response_404)
