"""Export housekeeping, run on beat (tasks/exports.py ``sweep_exports``): fail the jobs whose
worker died (its heartbeat stopped) or that no worker ever started, removing their partial files;
remove the files of jobs past their retention.
"""
import os
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select, update

from app.core.calendar import utcnow
from app.exports.running import export_dir, remove_file
from app.extensions import db
from models import ExportJob


def sweep_stale_jobs(now=None, stale_seconds=None):
    """Fail running jobs whose worker stopped beating and pending jobs never started; remove
    their partial files. Returns the ids failed."""
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
            remove_file(os.path.join(directory, name))


def expire_jobs(now=None):
    """Remove the files of jobs past their expiry; the job stays listed as expired."""
    now = now or utcnow()
    jobs = db.session.execute(select(ExportJob).where(ExportJob.state == "done", ExportJob.expires_at < now)).scalars()
    expired = 0
    for job in list(jobs):
        directory = export_dir(job)
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                remove_file(os.path.join(directory, name))
            os.rmdir(directory)
        job.state, job.file_path = "expired", None
        expired += 1
    db.session.commit()
    return expired
