"""Housekeeping tasks run by beat: purge consumed broker messages, and a heartbeat (``ping``)."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import create_engine, inspect, text

from tasks import SQLITE_TIMEOUT, celery_app, is_sqla_broker


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


def purge_consumed_messages(broker_url, transport_options=None):
    """The work of ``purge_broker_messages`` for one broker URL (also used by tests)."""
    if not is_sqla_broker(broker_url):
        return 0
    options = transport_options or {}
    table = options.get("message_tablename", "kombu_message")
    url = broker_url.split("+", 1)[1]
    connect_args = options.get("connect_args") or ({"timeout": SQLITE_TIMEOUT} if url.startswith("sqlite") else {})
    engine = create_engine(url, connect_args=connect_args)
    try:
        if not inspect(engine).has_table(table):
            return 0
        with engine.begin() as conn:
            # visible is a boolean: kombu sets it to false when it hands the message to a worker.
            result = conn.execute(text(f'DELETE FROM "{table}" WHERE visible = :consumed'),
                                  {"consumed": False})
            return result.rowcount
    finally:
        engine.dispose()
