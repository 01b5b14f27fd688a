"""The Celery app of Gongjian, Superset-style: one module-level ``celery_app``, configured from the
Flask config by ``init_celery(flask_app)``; every task runs inside a Flask app context.

Broker and results (STACK-NOTES, "Celery on the embedded default"):

* embedded default: kombu's SQLAlchemy transport on its own SQLite file under the data dir
  (``sqla+sqlite:///<data>/celery-broker.sqlite``), results in ``db+sqlite:///<data>/celery-results.sqlite``,
  a 30 s SQLite busy timeout, 0.1 s polling, consumed messages purged by beat
  (``tasks.maintenance.purge_broker_messages``), one worker with embedded beat (``-B``);
* production: ``CELERY_BROKER_URL=redis://…`` (results go to the same Redis unless
  ``CELERY_RESULT_BACKEND`` says otherwise), any number of workers, exactly one beat;
* tests: ``CELERY_ALWAYS_EAGER`` runs tasks in the caller, exceptions propagating.

Worker: ``celery -A tasks.worker worker -B --loglevel=info`` (tasks/worker.py builds the Flask app
and binds it with ``init_celery``).
Tasks live at module level in the modules of ``TASK_MODULES`` (never inside a factory: a task
defined per app instance gives ``DuplicateTaskNameWarning`` and the first one wins).
"""
import os
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from functools import cached_property

import kombu.pools
import kombu.transport.sqlalchemy
from celery import Celery, Task, signals
from flask import has_app_context
from sqlalchemy import create_engine, inspect, text

from app.core.actor import acting_as
from app.extensions import db
from config import Config

# Every module holding tasks: the worker imports them all (``include``), so a task is known to
# the worker even if nothing imported its module yet. A new task module joins here.
TASK_MODULES = ["tasks.maintenance", "tasks.exports", "tasks.reminders"]

BROKER_FILE = "celery-broker.sqlite"
RESULTS_FILE = "celery-results.sqlite"
SQLITE_TIMEOUT = 30  # seconds SQLite waits for a lock before "database is locked"
SQLA_POLLING_INTERVAL = 0.1  # seconds between polls of the SQLite broker (kombu's default is 1 s)
RESULT_EXPIRES = 7 * 24 * 3600  # results older than a week are removed by beat's backend_cleanup
PURGE_BROKER_EVERY = 10 * 60
HEARTBEAT_EVERY = 5 * 60
SWEEP_EXPORTS_EVERY = 60


class AppContextTask(Task):
    """Runs each task inside a Flask app context, acting as the system (audit ``via`` = task).

    In the caller's context (eager mode, or a task called directly) the current app is used; in
    a worker the app bound by ``init_celery`` (tasks/worker.py). A task that works for a user (an
    export: scope follows the requester) wraps that work in
    ``app.core.actor.acting_as(user, via="task")`` itself.
    """

    def __call__(self, *args, **kwargs):
        with ExitStack() as stack:
            if not has_app_context():
                stack.enter_context(get_flask_app().app_context())
            stack.enter_context(acting_as(None, via="task", request_id=self.request.id))
            return super().__call__(*args, **kwargs)


class _EnvironmentSettings(Mapping):
    """Until ``init_celery`` binds an app, the settings an app would get from the environment,
    read when Celery first needs its configuration (so ``ping.delay()`` works in any process)."""

    @cached_property
    def _settings(self):
        settings = celery_config(Config().as_dict())
        if is_sqla_broker(settings["broker_url"]):
            configure_sqla_transport()
        return settings

    def __getitem__(self, key):
        return self._settings[key]

    def __iter__(self):
        return iter(self._settings)

    def __len__(self):
        return len(self._settings)


celery_app = Celery("gongjian", task_cls=AppContextTask, include=TASK_MODULES)
celery_app.config_from_object(_EnvironmentSettings())
celery_app.flask_app = None
_lock = threading.RLock()
_connection_key = None


def is_sqla_broker(url):
    return url.startswith(("sqla+", "sqlalchemy+"))


def is_redis_url(url):
    return url.startswith(("redis://", "rediss://", "redis+socket://"))


def celery_config(config):
    """Celery settings (lower-case names) from a Flask config mapping (the keys of config.Config)."""
    data_dir = config["DATA_DIR"]
    broker_url = config.get("CELERY_BROKER_URL") or "sqla+sqlite:///" + os.path.join(data_dir, BROKER_FILE)
    result_backend = config.get("CELERY_RESULT_BACKEND") or "db+sqlite:///" + os.path.join(data_dir, RESULTS_FILE)
    if is_redis_url(broker_url) and result_backend.startswith("db+sqlite:"):
        # Workers on several machines cannot share a SQLite file: results go where the tasks do.
        result_backend = broker_url
    eager = bool(config.get("CELERY_ALWAYS_EAGER"))
    settings = {
        "broker_url": broker_url,
        "result_backend": result_backend,
        "broker_connection_retry_on_startup": True,
        "task_always_eager": eager,
        "task_eager_propagates": eager,
        "task_default_queue": config.get("CELERY_DEFAULT_QUEUE") or "gongjian",
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai",
        "enable_utc": True,
        "result_expires": RESULT_EXPIRES,
        # Tasks are acknowledged before they run; long jobs (exports) set acks_late=True on the
        # task, and a worker then takes one message at a time.
        "task_acks_late": False,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "beat_schedule_filename": os.path.join(data_dir, "celerybeat-schedule"),
        "beat_schedule": beat_schedule(config),
        "broker_transport_options": {},
        "database_engine_options": {},
        "worker_hijack_root_logger": True,
    }
    if is_sqla_broker(broker_url):
        # Every key here goes to sqlalchemy.create_engine(): the polling interval cannot (see
        # configure_sqla_transport). Without the busy timeout, load gives "database is locked".
        settings["broker_transport_options"] = {"connect_args": {"timeout": SQLITE_TIMEOUT}} \
            if "sqlite" in broker_url else {}
        # The SQLAlchemy transport has no fanout: no remote control, gossip or events.
        settings["worker_enable_remote_control"] = False
        settings["worker_send_task_events"] = False
    else:
        settings["worker_enable_remote_control"] = True
        if is_redis_url(broker_url):
            # An unacknowledged (acks_late) message is redelivered after this long.
            settings["broker_transport_options"] = {"visibility_timeout": 4 * 3600}
    if result_backend.startswith("db+sqlite"):
        settings["database_engine_options"] = {"connect_args": {"timeout": SQLITE_TIMEOUT}}
    return settings


def beat_schedule(config):
    """The periodic tasks (one beat per deployment). Reminder scans join here (REMINDER_SCAN_MINUTES)."""
    return {
        "purge-broker-messages": {
            "task": "tasks.maintenance.purge_broker_messages",
            "schedule": float(PURGE_BROKER_EVERY),
        },
        "sweep-exports": {
            "task": "tasks.exports.sweep_exports",
            "schedule": float(SWEEP_EXPORTS_EVERY),
            "options": {"expires": float(SWEEP_EXPORTS_EVERY)},
        },
        "audit-checkpoint": {
            "task": "tasks.maintenance.audit_checkpoint",
            "schedule": float(config.get("AUDIT_CHECKPOINT_SECONDS") or 300),
            "options": {"ignore_result": True, "expires": float(config.get("AUDIT_CHECKPOINT_SECONDS") or 300)},
        },
        "heartbeat": {
            "task": "tasks.maintenance.ping",
            "schedule": float(HEARTBEAT_EVERY),
            "options": {"ignore_result": True, "expires": float(HEARTBEAT_EVERY)},
        },
        **reminder_schedule(config),
    }


def reminder_schedule(config):
    """The reminder scan (hourly by default) and the retry pass of failed sends."""
    scan_every = 60.0 * int(config.get("REMINDER_SCAN_MINUTES") or 60)
    retry_every = float(config.get("REMINDER_RETRY_SECONDS") or 60)
    return {
        "reminder-scan": {"task": "tasks.reminders.scan", "schedule": scan_every,
                          "options": {"expires": scan_every}},
        "reminder-retries": {"task": "tasks.reminders.send_due", "schedule": retry_every,
                             "options": {"expires": retry_every}},
    }


def configure_sqla_transport():
    """Poll the SQLite broker every 0.1 s (≈120 ms round trip instead of ≈1 s).

    A class attribute: kombu passes every transport option to create_engine(), where
    ``polling_interval`` would crash."""
    kombu.transport.sqlalchemy.Transport.polling_interval = SQLA_POLLING_INTERVAL


def init_celery(flask_app):
    """Configure ``celery_app`` from ``flask_app.config`` and bind the app that tasks run in."""
    global _connection_key

    settings = celery_config(flask_app.config)
    for url in (settings["broker_url"], settings["result_backend"]):
        if "sqlite:///" in url:
            os.makedirs(os.path.dirname(url.split("sqlite:///", 1)[1]) or ".", exist_ok=True)
    if is_sqla_broker(settings["broker_url"]):
        configure_sqla_transport()
    with _lock:
        celery_app.conf.update(settings)
        key = (settings["broker_url"], settings["result_backend"], settings["task_default_queue"])
        if key != _connection_key:
            _forget_connections()
        _connection_key = key
        celery_app.flask_app = flask_app
    flask_app.extensions["celery"] = celery_app
    return celery_app


def _forget_connections():
    """Drop the broker pool, producers, queues and result backend built for an earlier
    configuration (only happens when one process configures several apps, as tests do)."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None
    celery_app.__dict__.pop("amqp", None)
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)
    # kombu keeps one producer pool per broker URL process-wide, holding the connection pool just
    # closed: a later app on the same URL (Redis in tests on both backends) would get "Acquire on
    # closed pool".
    kombu.pools.reset()


def purge_consumed_messages(broker_url, transport_options=None):
    """Delete the messages kombu's SQLAlchemy transport has delivered from the broker at
    ``broker_url`` (the work of beat's ``tasks.maintenance.purge_broker_messages``); pending messages
    are kept. Returns how many rows went; 0 on other brokers (Redis)."""
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


def get_flask_app():
    """The Flask app tasks run in, bound by ``init_celery`` (the factory, or tasks/worker.py)."""
    if celery_app.flask_app is None:
        raise RuntimeError("No Flask app is bound to the Celery app: start the worker with "
                           "`celery -A tasks.worker worker`, or call app.celery_app.init_celery(flask_app) first")
    return celery_app.flask_app


@signals.worker_process_init.connect
def _dispose_inherited_connections(**_kwargs):
    """A forked pool process must not reuse database connections opened by its parent."""
    flask_app = celery_app.flask_app
    if flask_app is None:
        return
    with flask_app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
