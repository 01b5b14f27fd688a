"""Who sees which export job, and who gets its file.

``visible_jobs`` says who sees a job: the requester, and auditors for the record; anyone else is
answered 404. ``downloadable_file`` says who gets its file: the requester only, and a file with
personal data in full only while they still hold the permission to see it. Downloads and refused
downloads are audited.
"""
import os

from flask import current_app
from sqlalchemy import select

from app.core import policy
from app.core.audit import record_event
from app.extensions import db
from models import ExportJob

AUDITOR_ROLES = {"Auditor"}


def is_auditor(user):
    return bool({role.name for role in getattr(user, "roles", [])} & AUDITOR_ROLES)


def visible_clause(user):
    """Jobs ``user`` may see: their own; every job for an auditor."""
    if user is None:
        return None
    return None if is_auditor(user) else ExportJob.created_by_id == user.id


def visible_jobs(user):
    query = select(ExportJob)
    where = visible_clause(user)
    return query if where is None else query.where(where)


def get_visible_job(user, job_id):
    """The job if ``user`` may see it, else None (the caller answers 404)."""
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
