"""Export tasks: build an export job's file, sweep jobs whose worker died, expire old files.

``run_export`` is acknowledged only after it finishes (``acks_late``) and rejected back to the
queue when its worker is lost, so a killed worker's job is picked up again by another worker
(``app.exports.running.run_job`` takes a job whose heartbeat stopped); if no worker takes it, the
sweeper fails it. app/exports/running.py sends ``run_export`` by its registered name
(``RUN_TASK``). Every task runs in the Flask app context (app.celery_app.AppContextTask).
"""
from app.celery_app import celery_app
from app.exports.housekeeping import expire_jobs, sweep_stale_jobs
from app.exports.running import RUN_TASK, run_job


@celery_app.task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True, bind=True)
def run_export(self, job_id):
    worker = f"{self.request.hostname or 'eager'}:{self.request.id}"
    job = run_job(job_id, worker=worker)
    return None if job is None else {"id": job.id, "state": job.state, "rows": job.row_count}


@celery_app.task(name="tasks.exports.sweep_exports")
def sweep_exports():
    """Fail jobs whose worker died (no heartbeat) and remove their partial files; remove expired files."""
    return {"failed": len(sweep_stale_jobs()), "expired": expire_jobs()}
