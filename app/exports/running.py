"""Running an export job: queue it to a worker, then (the Celery task's body) build its file.

``queue_job`` sends the job to the task by its registered name through app.celery_app (the
capability never imports a task module). ``run_job`` builds the file as the requester — so the
scope of app/core/scope.py and the masking of app/core/policy.py are the requester's — into a
temporary name, renames it when complete, and marks the job done or failed (with the reason).
While it runs, a heartbeat thread proves its worker is alive (app/exports/housekeeping.py fails
the jobs whose heartbeat stopped).
"""
import json
import logging
import os
import socket
import tempfile
import threading
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, update

from app.celery_app import celery_app
from app.core import policy
from app.core.actor import acting_as, current_user
from app.core.audit_checkpoint import checkpoint_path, verify_log
from app.core.calendar import local_now, utcnow
from app.core.errors import refusal_text
from app.exports.files import Progress, write_csv, write_xlsx
from app.exports.query import ListExport
from app.exports.resources import job_title, resources
from app.extensions import db
from app.letters.feedback import write_letters_zip
from app.statistics.workbook import write_report_xlsx
from models import ExportJob

log = logging.getLogger(__name__)

RUN_TASK = "tasks.exports.run_export"  # the task's registered name (tasks/exports.py)
HEARTBEAT_SECONDS = 2.0


# ---- queueing -------------------------------------------------------------------------------
def queue_job(job):
    """Send ``job`` to a worker (in the caller when the app runs Celery eagerly, as in tests)."""
    task = celery_app.signature(RUN_TASK, args=(job.id,))
    if current_app.config.get("CELERY_ALWAYS_EAGER"):
        # This app's own setting decides (the process-wide Celery app may be bound to another).
        task.apply()
    else:
        result = task.apply_async()
        db.session.execute(update(ExportJob).where(ExportJob.id == job.id).values(task_id=result.id))
        db.session.commit()
    db.session.refresh(job)


# ---- building the file ----------------------------------------------------------------------
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
        remove_file(partial_path)
        remove_file(final_path)
        _fail(job_id, _reason(exc))
    return db.session.get(ExportJob, job_id)


def _claim(job_id, worker):
    """Take the job, atomically: a pending job, or a running one whose worker stopped beating
    (a redelivered message after a worker died). Another worker's live job is left alone."""
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


def _write(job, path, progress):
    params = json.loads(job.params or "{}")
    if job.kind == "report":
        return write_report_xlsx(job.resource, params, path, progress.set)
    if job.kind == "letters":
        return write_letters_zip(params, path, progress.set)
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
        notes.extend((_("Checkpoint"), line) for line in checkpoint_lines())
    return notes


def audit_verification_text():
    with db.engine.connect() as connection:
        verdict = verify_log(connection)
    if verdict.ok:
        return _("OK: %(count)d entries verified; %(checkpoints)d checkpoints match",
                 count=verdict.checked, checkpoints=verdict.checkpoints)
    return _("BROKEN at entry %(id)s (%(reason)s); %(count)d entries verified before it",
             id=verdict.bad_id if verdict.bad_id is not None else "-", reason=verdict.reason, count=verdict.checked)


def checkpoint_lines():
    """The checkpoint file's lines as they are (app/core/audit_checkpoint.py): a copy travels with
    every audit export, so the chain's head can be checked against a file kept elsewhere."""
    path = checkpoint_path()
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]


# ---- the job's end --------------------------------------------------------------------------
def _finish(job, rows, file_name, path):
    retention = current_app.config["EXPORT_RETENTION_DAYS"]
    db.session.execute(update(ExportJob).where(ExportJob.id == job.id).values(
        state="done", rows_done=rows, rows_total=rows, row_count=rows, file_name=file_name,
        file_path=os.path.relpath(path, current_app.config["DATA_DIR"]), file_size=os.path.getsize(path),
        finished_at=utcnow(), heartbeat_at=utcnow(), expires_at=utcnow() + timedelta(days=retention)))
    db.session.commit()


def _fail(job_id, reason):
    db.session.execute(update(ExportJob).where(ExportJob.id == job_id).values(
        state="failed", error=reason[:2000], finished_at=utcnow(), file_path=None))
    db.session.commit()


def _reason(exc):
    """A failed job's reason: a refusal in the user's words (the one error map), else the fault."""
    fault = f"{type(exc).__name__}: {exc}"[:1000]
    return refusal_text(exc) or _("The export failed: %(error)s", error=fault)


def remove_file(path):
    """Remove ``path`` if there is one (a partial or abandoned export file)."""
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
        with self.engine.begin() as connection:
            connection.execute(update(ExportJob).where(ExportJob.id == self.job_id, ExportJob.state == "running")
                               .values(rows_done=self.progress.rows, rows_total=self.progress.total,
                                       heartbeat_at=utcnow()))
