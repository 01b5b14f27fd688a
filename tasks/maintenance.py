"""Housekeeping tasks run by beat: purge consumed broker messages, a heartbeat (``ping``), and
the audit chain's checkpoint."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from app.celery_app import celery_app, purge_consumed_messages
from app.core.audit_checkpoint import write_checkpoint
from app.extensions import db


@celery_app.task(name="tasks.maintenance.ping")
def ping():
    """Writes nothing; answers the time, and which app (environment, data dir) the worker runs."""
    tz = ZoneInfo(celery_app.conf.timezone or "Asia/Shanghai")
    return {
        "pong": True,
        "at": datetime.now(tz).isoformat(),
        "env": current_app.config.get("GONGJIAN_ENV"),
        "data_dir": current_app.config.get("DATA_DIR"),
        "hostname": ping.request.hostname,
    }


@celery_app.task(name="tasks.maintenance.purge_broker_messages")
def purge_broker_messages():
    """Delete the messages kombu's SQLAlchemy transport has delivered (it keeps them, visible = 0,
    forever). Pending messages are kept. Returns how many rows went; 0 on other brokers (Redis)."""
    return purge_consumed_messages(celery_app.conf.broker_url, celery_app.conf.broker_transport_options)


@celery_app.task(name="tasks.maintenance.audit_checkpoint")
def audit_checkpoint():
    """Append the audit chain's head to the checkpoint file (app/core/audit_checkpoint.py);
    returns the entry id it holds, or None when the last checkpoint already held it."""
    with db.engine.connect() as connection:
        written = write_checkpoint(connection)
    return None if written is None else written["last_id"]
