"""Exports (导出): the one module screens, the REST API, the CLI and Celery tasks call.

* ``request_export`` checks a request (resource, format, filters, the user's right to read the
  resource), records an export job, writes the request to the audit log and queues the task;
* ``run_job`` (the Celery task's body) builds the file as the requester — so the scope of
  app/scope.py and the masking of app/masking.py are the requester's — into a temporary name,
  renames it when complete, and marks the job done or failed (with the reason);
* ``export_to_file`` does the same work synchronously (the CLI);
* ``sweep_stale_jobs`` fails jobs whose worker died (a heartbeat thread proves a worker is alive)
  and removes their partial files; ``expire_jobs`` removes files past their retention;
* ``visible_jobs`` says who sees a job: the requester, and auditors for the record; anyone else
  is answered 404. ``downloadable_file`` says who gets its file: the requester only, and a file
  with personal data in full only while they still hold the permission to see it.

Kinds of job: ``list`` (any list screen, as CSV or XLSX), ``report`` (app/reports.py) and
``letters`` (app/letters.py, a ZIP); the last two write their own files.
"""
import json
import logging
import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select, update

from app.core import policy
from app.actor import acting_as, current_user
from app.audit import record_event
from app.export_files import Progress, write_csv, write_xlsx
from app.export_query import ExportInvalid, ListExport, export_column_names, normalize_filters, valid_order
from app.extensions import db
from app.roles import holds
from models.base import local_now, utcnow

log = logging.getLogger(__name__)

LIST_FORMATS = ("csv", "xlsx")
KIND_FORMATS = {"list": LIST_FORMATS, "report": ("xlsx",), "letters": ("zip",)}
AUDITOR_ROLES = {"Auditor"}
REPORT_PERMISSION = "Report"
HEARTBEAT_SECONDS = 2.0

__all__ = ["ExportInvalid", "request_export", "run_job", "export_to_file", "sweep_stale_jobs", "expire_jobs",
           "visible_jobs", "job_file", "downloadable_file", "resources", "resource_for_view"]


# ---- what can be exported -------------------------------------------------------------------
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


NOT_EXPORTED = {"export_job"}


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
    return current_app.appbuilder.sm.has_access("can_read", permission) if user is None else \
        holds(user, "can_read", permission)


# ---- requesting -----------------------------------------------------------------------------
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
    area are valid and the area is in the user's scope (app/reports.py checks them)."""
    from app import reports
    from app.scope import scope_for

    if not can_read(user, REPORT_PERMISSION):
        raise ExportInvalid({"resource": [_("No such list to export: %(name)s", name=resource)]})
    try:
        if kind == "report" and resource != reports.ALL:
            reports.get_report(resource)
        reports.make_context(params, scope=scope_for(user))
    except reports.ReportParamError as exc:
        field = "resource" if exc.field == "report" else exc.field
        raise ExportInvalid({field: [str(exc.message)]}) from None
    return params


def request_export(user, *, kind="list", resource, fmt, filters=None, params=None, via=None):
    """Record an export job for ``user``, audit the request, and queue it; returns the job."""
    from models import ExportJob

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
    _queue(job)
    return job


def holds_personal_data(kind, resource):
    """Whether an export's file has personal fields among its columns (the list's columns that
    the field policy names; reports and letters never hold any)."""
    found = resources().get(resource) if kind == "list" else None
    if found is None:
        return False
    personal = policy.personal_fields(found.view.datamodel.obj, include_secrets=False)
    return any(name in personal for name in export_column_names(found.view))


def _current_via():
    from app.actor import current_via

    via = current_via()
    return via if via in ("web", "api", "cli", "task") else "web"


def _queue(job):
    from tasks.exports import run_export

    if current_app.config.get("CELERY_ALWAYS_EAGER"):
        # This app's own setting decides (the process-wide Celery app may be bound to another).
        run_export.apply((job.id,))
    else:
        result = run_export.apply_async((job.id,))
        db.session.execute(update(type(job)).where(type(job).id == job.id).values(task_id=result.id))
        db.session.commit()
    db.session.refresh(job)


# ---- running --------------------------------------------------------------------------------
def export_dir(job=None):
    """Where a job's file is made: its own folder, named by id and creation time (SQLite may
    reuse the id of a deleted job; the folder of a new job must never hold an old file)."""
    base = os.path.join(current_app.config["DATA_DIR"], "exports")
    return base if job is None else os.path.join(base, f"{job.id}-{job.created_at:%Y%m%d%H%M%S%f}")


def file_name_for(title, fmt, at):
    safe = "".join(ch for ch in title if ch not in '\\/:*?"<>|').strip() or "export"
    return f"{safe}_{at:%Y%m%d-%H%M%S}.{fmt}"


def run_job(job_id, worker=None):
    """Build the file of export job ``job_id`` (the Celery task's body). Never raises for a
    failing export: the job ends ``failed`` with the reason, and no file is left behind."""
    from models import ExportJob

    if not _claim(job_id, worker):
        return None
    job = db.session.get(ExportJob, job_id)
    user = job.created_by
    progress = Progress()
    heartbeat = Heartbeat(job_id, progress)
    directory = export_dir(job)
    final_path = partial_path = None
    try:
        with acting_as(user, via="task"):
            title = job_title(job)
            file_name = file_name_for(title, job.format, local_now())
            os.makedirs(directory, exist_ok=True)
            final_path = os.path.join(directory, file_name)
            partial_path = os.path.join(directory, f".{file_name}.part")
            heartbeat.start()
            rows = _write(job, partial_path, progress)
            heartbeat.stop()
            os.replace(partial_path, final_path)  # the file appears complete or not at all
        _finish(job, rows, file_name, final_path)
    except Exception as exc:  # noqa: BLE001 - any failure must end the job, with its reason
        heartbeat.stop()
        db.session.rollback()
        log.exception("export job %s failed", job_id)
        _remove(partial_path)
        _remove(final_path)
        _fail(job_id, _reason(exc))
    return db.session.get(ExportJob, job_id)


def _claim(job_id, worker):
    """Take the job, atomically: a pending job, or a running one whose worker stopped beating
    (a redelivered message after a worker died). Another worker's live job is left alone."""
    from models import ExportJob

    stale = utcnow() - timedelta(seconds=current_app.config["EXPORT_STALE_SECONDS"])
    claimed = db.session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id)
        .where(or_(ExportJob.state == "pending", (ExportJob.state == "running") & (ExportJob.heartbeat_at < stale)))
        .values(state="running", started_at=utcnow(), heartbeat_at=utcnow(), rows_done=0, error=None,
                worker=(worker or f"{socket.gethostname()}:{os.getpid()}")[:200])
    ).rowcount
    db.session.commit()
    return claimed == 1


def job_title(job):
    """What a job exports, in words: the list's title, the report's, or "feedback letters"."""
    if job.kind == "list":
        return resources()[job.resource].title
    if job.kind == "report":
        from app import reports

        return str(reports.report_title(job.resource))
    return _("Feedback letters")


def _write(job, path, progress):
    params = json.loads(job.params or "{}")
    if job.kind == "report":
        from app import reports

        return reports.write_report_xlsx(job.resource, params, path, progress.set)
    if job.kind == "letters":
        from app import letters

        return letters.write_letters_zip(params, path, progress.set)
    filters = json.loads(job.filters or "[]")
    # In full only if the job says so (the requester held the permission when asking) and they
    # still hold it now.
    full = bool(job.personal_data_unmasked) and policy.sees_in_full()
    return write_list(job.resource, job.format, filters, params, path, progress, full=full)


def write_list(resource, fmt, filters, params, path, progress, full=None):
    """Write one list export as the acting user (scope and masking are theirs; ``full`` False
    masks personal data even for a user who may see it)."""
    found = resources()[resource]
    full = policy.sees_in_full() if full is None else full
    export = ListExport(found.view, filters, order=params.get("order"),
                        can_see_personal_data=full, csv=(fmt == "csv"))
    progress.total = export.count()
    notes = export_notes(found, filters, progress.total)
    if fmt == "csv":
        return write_csv(export, path, progress, notes=notes if found.name == "audit_log" else ())
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmpdir:
        return write_xlsx(export, path, progress, notes=notes, tmpdir=tmpdir, sheet_title=found.title)


def export_notes(found, filters, total):
    """What the file says about itself: who, when, which filters; for the audit log, the chain's
    verification result at the time of the export."""
    user = current_user()
    notes = [
        (_("List"), found.title),
        (_("Exported by"), getattr(user, "username", "") or _("System")),
        (_("Exported at"), f"{local_now():%Y-%m-%d %H:%M:%S}"),
        (_("Filters"), json.dumps(filters, ensure_ascii=False) if filters else _("(none)")),
        (_("Rows"), total),
    ]
    if found.name == "audit_log":
        notes.append((_("Audit chain verification"), audit_verification_text()))
    return notes


def audit_verification_text():
    from app.audit import verify_chain

    with db.engine.connect() as connection:
        checked, bad_id, reason = verify_chain(connection)
    if bad_id is None:
        return _("OK: %(count)d entries verified", count=checked)
    return _("BROKEN at entry %(id)s (%(reason)s); %(count)d entries verified before it",
             id=bad_id, reason=reason, count=checked)


def _finish(job, rows, file_name, path):
    from models import ExportJob

    retention = current_app.config["EXPORT_RETENTION_DAYS"]
    db.session.execute(update(ExportJob).where(ExportJob.id == job.id).values(
        state="done", rows_done=rows, rows_total=rows, row_count=rows, file_name=file_name,
        file_path=os.path.relpath(path, current_app.config["DATA_DIR"]), file_size=os.path.getsize(path),
        finished_at=utcnow(), heartbeat_at=utcnow(), expires_at=utcnow() + timedelta(days=retention)))
    db.session.commit()


def _fail(job_id, reason):
    from models import ExportJob

    db.session.execute(update(ExportJob).where(ExportJob.id == job_id).values(
        state="failed", error=reason[:2000], finished_at=utcnow(), file_path=None))
    db.session.commit()


def _reason(exc):
    if isinstance(exc, ExportInvalid):
        return str(exc)
    return _("The export failed: %(error)s", error=f"{type(exc).__name__}: {exc}"[:1000])


def _remove(path):
    if path and os.path.exists(path):
        os.remove(path)


class Heartbeat:
    """A thread that, while a job runs, writes its progress and a heartbeat every 2 seconds on
    its own connection. When the worker process dies the heartbeat stops and the sweeper fails
    the job."""

    def __init__(self, job_id, progress, every=HEARTBEAT_SECONDS):
        self.job_id, self.progress, self.every = job_id, progress, every
        self.engine = db.engine
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name=f"export-{self.job_id}-heartbeat", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self):
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat must not kill the export
                log.warning("export job %s: heartbeat failed", self.job_id, exc_info=True)

    def beat(self):
        from models import ExportJob

        with self.engine.begin() as connection:
            connection.execute(update(ExportJob).where(ExportJob.id == self.job_id, ExportJob.state == "running")
                               .values(rows_done=self.progress.rows, rows_total=self.progress.total,
                                       heartbeat_at=utcnow()))


# ---- synchronous (CLI) ----------------------------------------------------------------------
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
            rows = write_list(resource, fmt, filters, params, partial, Progress())
            os.replace(partial, out_path)
        finally:
            _remove(partial)
    return rows


# ---- who sees what --------------------------------------------------------------------------
def is_auditor(user):
    return bool({role.name for role in getattr(user, "roles", [])} & AUDITOR_ROLES)


def visible_clause(user):
    """Jobs ``user`` may see: their own; every job for an auditor."""
    from models import ExportJob

    if user is None:
        return None
    return None if is_auditor(user) else ExportJob.created_by_id == user.id


def visible_jobs(user):
    from models import ExportJob

    query = select(ExportJob)
    where = visible_clause(user)
    return query if where is None else query.where(where)


def get_visible_job(user, job_id):
    """The job if ``user`` may see it, else None (the caller answers 404)."""
    from models import ExportJob

    try:
        job_id = int(job_id)
    except (TypeError, ValueError):
        return None
    return db.session.execute(visible_jobs(user).where(ExportJob.id == job_id)).scalar_one_or_none()


def job_file(job):
    """The absolute path of a finished job's file, or None (not done, expired, or missing)."""
    if job is None or job.state != "done" or not job.file_path:
        return None
    data_dir = os.path.realpath(current_app.config["DATA_DIR"])
    path = os.path.realpath(os.path.join(data_dir, job.file_path))
    if not path.startswith(data_dir + os.sep) or not os.path.isfile(path):
        return None
    return path


def download_refusal(user, job):
    """Why ``user`` may not have ``job``'s file (a reason for the audit log), None if they may.

    A file goes only to its requester (never to an auditor, who sees the job's metadata); a file
    holding personal data in full only while the requester still holds the permission to see it."""
    if job is None:  # none by that id, or another user's (only auditors see those)
        return "no such job visible to the user"
    if user is None or job.created_by_id != user.id:
        return "not the requester"
    if job.personal_data_unmasked and not policy.sees_in_full(user):
        return "personal data permission withdrawn"
    return None


def downloadable_file(user, job):
    """The path of ``job``'s file if ``user`` may download it now, else None."""
    return None if download_refusal(user, job) is not None else job_file(job)


def record_download(job):
    record_event("download", "export_job", job.id, summary=job.file_name,
                 details={"resource": job.resource, "format": job.format, "rows": job.row_count,
                          "unmasked": bool(job.personal_data_unmasked),
                          "requested_by": job.created_by.username if job.created_by else None})


def record_download_refused(job_id, reason, summary):
    """A refused download, written as the app writes every permission refusal ("denied")."""
    record_event("denied", "export_job", job_id, summary=summary, details={"reason": reason})


# ---- housekeeping (beat) --------------------------------------------------------------------
def sweep_stale_jobs(now=None, stale_seconds=None):
    """Fail running jobs whose worker stopped beating and pending jobs never started; remove
    their partial files. Returns the ids failed."""
    from models import ExportJob

    now = now or utcnow()
    stale_seconds = current_app.config["EXPORT_STALE_SECONDS"] if stale_seconds is None else stale_seconds
    stale = now - timedelta(seconds=stale_seconds)
    never_started = now - timedelta(hours=current_app.config["EXPORT_PENDING_HOURS"])
    ids = db.session.execute(select(ExportJob.id).where(or_(
        (ExportJob.state == "running") & (ExportJob.heartbeat_at < stale),
        (ExportJob.state == "pending") & (ExportJob.created_at < never_started),
    ))).scalars().all()
    for job_id in ids:
        failed = db.session.execute(update(ExportJob).where(ExportJob.id == job_id, ExportJob.state.in_(
            ("running", "pending"))).values(state="failed", finished_at=now, file_path=None, error=_(
                "The export stopped: its worker died or never started it. Please export again."))).rowcount
        db.session.commit()
        if failed:
            _remove_partials(db.session.get(ExportJob, job_id))
    return ids


def _remove_partials(job):
    directory = export_dir(job)
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.endswith(".part"):
            _remove(os.path.join(directory, name))


def expire_jobs(now=None):
    """Remove the files of jobs past their expiry; the job stays listed as expired."""
    from models import ExportJob

    now = now or utcnow()
    jobs = db.session.execute(select(ExportJob).where(ExportJob.state == "done", ExportJob.expires_at < now)).scalars()
    expired = 0
    for job in list(jobs):
        directory = export_dir(job)
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                _remove(os.path.join(directory, name))
            os.rmdir(directory)
        job.state, job.file_path = "expired", None
        expired += 1
    db.session.commit()
    return expired
