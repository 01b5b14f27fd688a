"""Reminder tasks run by beat: the scan (every REMINDER_SCAN_MINUTES, hourly by default) and the
retry pass (every REMINDER_RETRY_SECONDS) that sends deliveries whose backoff is over.

Both are idempotent: the delivery key is unique in the database and sends are leased, so two
workers running them at once, or a scan re-run after a worker died, send nothing twice."""
from app.celery_app import celery_app
from app.reminders import sending
from app.reminders.moment import parse_moment
from app.reminders.scan import run_scan


@celery_app.task(name="tasks.reminders.scan")
def scan(now=None):
    """One scan at ``now`` (ISO date-time, local time unless it names an offset; default: now).
    Returns {rule code: {name, claimed, sent, failed}}."""
    return run_scan(now=parse_moment(now) if now else None).as_dict()


@celery_app.task(name="tasks.reminders.send_due")
def send_due():
    """Send what is due without scanning (retries after their backoff, leases of dead scans)."""
    return sending.send_due().as_dict()
