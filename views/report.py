"""The statistics screen (统计报表) and its REST resource, and the feedback letters (反馈函).

The screen and ``GET /api/v1/report/<name>`` show the rows of app/statistics/catalogue.py's
``REPORTS`` for a period and an area (offered only within the user's scope); "导出 XLSX" and the
batch of letters start export jobs (app/exports/requests.py) and land on the 我的导出 screen; a
single unit's letter is downloaded directly (and audited as a download). Everything is one permission: ``can_read`` on
``Report`` (FAB method names map onto it as in views/base.py).
"""
import io

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import has_access, protect
from flask_babel import gettext as _
from sqlalchemy import select

from app.core.audit import record_event
from app.core.errors import flash_refusal, refusal_message
from app.core.scope import current_scope, restrict
from app.exports.query import ExportInvalid
from app.exports.requests import request_export
from app.extensions import db
from app.letters import feedback as letters
from app.statistics.catalogue import ALL, REPORTS, compute, format_cell, public_rows, subtitle
from app.statistics.context import ReportParamError, make_context
from models import AREA_LEVELS, Area

REPORT_PERMISSION = "Report"
# Every endpoint here reads (an export request or a letter changes no business record).
REPORT_METHODS = {name: "read" for name in ("index", "export", "letter", "batch_letters", "get", "get_list")}
SCREEN_LEVELS = ("district", "street", "community")


def area_choices(scope=None):
    """(id, label) of the district, streets and communities inside the user's scope, in tree order."""
    query = select(Area.id, Area.name, Area.level, Area.path).where(Area.level.in_(SCREEN_LEVELS)).order_by(Area.path)
    rows = db.session.execute(restrict(query, Area, scope or current_scope())).all()
    return [(r.id, f"{'　' * (r.path.count('/') - 2)}{r.name}（{AREA_LEVELS.label(r.level)}）") for r in rows]


def _raw_params(source):
    return {"start": source.get("start", ""), "end": source.get("end", ""), "area_id": source.get("area_id", "")}


def _start_job(kind, resource, fmt, ctx):
    """Queue an export job for the signed-in user; returns a redirect to 我的导出."""
    try:
        job = request_export(g.user, kind=kind, resource=resource, fmt=fmt, params=ctx.params(), via="web")
    except ExportInvalid as exc:
        flash_refusal(refusal_message(exc))
        return None
    flash(_("Export #%(id)d started: it appears below when ready", id=job.id), "info")
    return redirect(url_for("ExportJobView.list"))


def download_letter(ctx, unit_id, fmt):
    """One unit's letter as a download (DOCX or PDF), audited; 404 outside the view.
    Returns (response, None), or (None, the reason no letter could be made)."""
    letter = letters.letter_for_unit(ctx, unit_id)
    if letter is None:
        abort(404)
    try:
        content = letters.render(letter, fmt)
    except letters.LetterError as exc:
        return None, str(exc)
    name = f"{letter.file_stem()}.{fmt}"
    record_event("download", "unit", unit_id, summary=name,
                 details={"kind": "feedback_letter", "format": fmt, **ctx.params()})
    return send_file(io.BytesIO(content), mimetype=letters.MIMETYPES[fmt], as_attachment=True,
                     download_name=name), None


class ReportView(BaseView):
    """统计报表: a form for the period and area, one report at a time as a table."""

    route_base = "/reports"
    default_view = "index"
    class_permission_name = REPORT_PERMISSION
    method_permission_name = REPORT_METHODS
    template = "gongjian/report.html"

    def _render(self, ctx, name, errors=None, status=200):
        report = REPORTS[name]
        rows = compute(name, ctx) if ctx is not None else []
        return self.render_template(
            self.template, reports=REPORTS, report=report, name=name, rows=rows, ctx=ctx,
            errors=errors or {}, params=_raw_params(request.values), areas=area_choices(),
            subtitle=subtitle(ctx) if ctx is not None else "", format_cell=format_cell,
            title=_("Statistics reports")), status

    @expose("/")
    @has_access
    def index(self):
        name = request.args.get("report") or "area_rates"
        if name not in REPORTS:
            abort(404)
        try:
            ctx = make_context(_raw_params(request.args))
        except ReportParamError as exc:
            errors = refusal_message(exc)
            flash_refusal(errors)
            return self._render(None, name, errors=errors, status=400)
        return self._render(ctx, name)

    def _posted_context(self):
        try:
            return make_context(_raw_params(request.form)), None
        except ReportParamError as exc:
            errors = refusal_message(exc)
            flash_refusal(errors)
            return None, self._render(None, request.form.get("report") or "area_rates", errors=errors, status=400)

    @expose("/export", methods=["POST"])
    @has_access
    def export(self):
        """导出 XLSX: the shown report (or every report, one sheet each) as an export job."""
        name = request.form.get("report", "")
        if name != ALL and name not in REPORTS:
            abort(404)
        ctx, error_page = self._posted_context()
        if ctx is None:
            return error_page
        return _start_job("report", name, "xlsx", ctx) or redirect(url_for("ReportView.index", **ctx.params()))

    @expose("/letters", methods=["POST"])
    @has_access
    def batch_letters(self):
        """The feedback letters of every unit in the view, one ZIP (DOCX + PDF each), as a job."""
        ctx, error_page = self._posted_context()
        if ctx is None:
            return error_page
        return (_start_job("letters", "feedback_letter", "zip", ctx)
                or redirect(url_for("ReportView.index", **ctx.params())))

    @expose("/letter/<int:unit_id>")
    @has_access
    def letter(self, unit_id):
        """One unit's feedback letter, ?fmt=docx|pdf, for ?start=&end= (the current quarter)."""
        try:
            ctx = make_context(_raw_params(request.args))
        except ReportParamError as exc:
            errors = refusal_message(exc)
            flash_refusal(errors)
            return self._render(None, "unit_rates", errors=errors, status=400)
        fmt = request.args.get("fmt", "docx")
        if fmt not in letters.FORMATS:
            flash(_("Format must be one of: %(formats)s", formats=", ".join(letters.FORMATS)), "danger")
            return self._render(ctx, "unit_rates", errors={"fmt": [_("Unknown format")]}, status=400)
        response, error = download_letter(ctx, unit_id, fmt)
        if error:
            flash(error, "danger")
            return self._render(ctx, "unit_rates", status=503)
        return response


class ReportApi(BaseApi):
    """``GET /api/v1/report/`` lists the reports; ``GET /api/v1/report/<name>?start=&end=&area_id=``
    gives one report's rows (rates as fractions between 0 and 1)."""

    resource_name = "report"
    class_permission_name = REPORT_PERMISSION
    method_permission_name = REPORT_METHODS
    allow_browser_login = False  # cookie-authenticated API calls would bypass CSRF
    openapi_spec_tag = "Reports"

    @staticmethod
    def _columns(report):
        return [{"key": c.key, "label": str(c.label), "kind": c.kind} for c in report.columns]

    @expose("/", methods=["GET"])
    @protect()
    def get_list(self):
        """The reports there are.
        ---
        get:
          responses:
            200:
              description: The reports with their columns
        """
        result = [{"name": r.name, "title": str(r.title), "columns": self._columns(r)}
                  for r in REPORTS.values()]
        return self.response(200, result=result, count=len(result))

    @expose("/<name>", methods=["GET"])
    @protect()
    def get(self, name):
        """One report's rows for a period and an area.
        ---
        get:
          parameters:
          - {in: path, name: name, required: true, schema: {type: string}}
          - {in: query, name: start, schema: {type: string, format: date}}
          - {in: query, name: end, schema: {type: string, format: date}}
          - {in: query, name: area_id, schema: {type: integer}}
          responses:
            200:
              description: The rows
            400:
              description: A bad date or an area outside the user's scope, by field
            404:
              description: No such report
        """
        report = REPORTS.get(name)
        if report is None:
            return self.response_404()
        try:
            ctx = make_context(_raw_params(request.args))
        except ReportParamError as exc:
            return self.response_400(message=refusal_message(exc))
        rows = public_rows(report, compute(name, ctx))
        quota = ctx.quota
        return self.response(
            200, name=name, title=str(report.title), subtitle=subtitle(ctx),
            start=ctx.start.isoformat(), end=ctx.end.isoformat(),
            area={"id": ctx.area_id, "name": ctx.area_label()}, threshold=ctx.threshold,
            quota=None if quota is None else {"name": quota.name, "period": quota.period,
                                               "min_activities": quota.min_activities,
                                               "min_hours": quota.min_hours, "min_points": quota.min_points},
            columns=self._columns(report), result=rows, count=len(rows))

