"""The reminder scan as Celery runs it: on beat's schedule from config, through a real worker on
Redis (CI), through a worker process on the embedded SQLite broker, and eagerly — the embedded
default sends reminders with no service installed."""
import os
import signal
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from conftest import make_app, service_unavailable
from sqlalchemy import func, select

from app.extensions import db
from tests.test_reminders import TODAY, D, resolution, rules  # noqa: F401  (fixture)
from tests.test_tasks import REDIS_URL, restore_celery, start_worker_process  # noqa: F401  (autouse fixture)

NOW = f"{D + timedelta(days=1)}T09:00:00"
pytestmark = pytest.mark.today(TODAY)  # the reminder tests' day (the world is dated from it)


def overdue_notifications(app, item_id):
    from models import Notification, ReminderDelivery

    with app.app_context():
        sent = db.session.scalar(select(func.count()).select_from(ReminderDelivery).where(
            ReminderDelivery.target_type == "resolution", ReminderDelivery.target_id == item_id,
            ReminderDelivery.state == "sent"))
        notes = db.session.scalar(select(func.count()).select_from(Notification))
        return sent, notes


def make_item(app, world):
    with app.app_context():
        return resolution(world, D).id


def worker_app(app, tmp_path, **overrides):
    """Another app on the same database, with its own broker settings (not eager)."""
    return make_app(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], CELERY_ALWAYS_EAGER=False, **overrides)


def test_beat_runs_the_scan_on_the_configured_schedule(tmp_path):
    from app.celery_app import TASK_MODULES, celery_config

    assert "tasks.reminders" in TASK_MODULES
    default = celery_config({"DATA_DIR": str(tmp_path)})["beat_schedule"]
    assert default["reminder-scan"]["task"] == "tasks.reminders.scan"
    assert default["reminder-scan"]["schedule"] == 3600.0  # hourly by default
    assert default["reminder-retries"]["task"] == "tasks.reminders.send_due"
    every_15 = celery_config({"DATA_DIR": str(tmp_path), "REMINDER_SCAN_MINUTES": 15})["beat_schedule"]
    assert every_15["reminder-scan"]["schedule"] == 900.0


def test_config_reads_reminder_settings_from_the_environment(monkeypatch):
    from config import Config

    monkeypatch.setenv("GONGJIAN_REMINDER_SCAN_MINUTES", "30")
    monkeypatch.setenv("GONGJIAN_SMTP_HOST", "smtp.example.cn")
    monkeypatch.setenv("GONGJIAN_SMTP_TLS", "starttls")
    config = Config()
    assert config.REMINDER_SCAN_MINUTES == 30 and config.REMINDER_SMTP_HOST == "smtp.example.cn"
    assert config.REMINDER_SMTP_TLS == "starttls"
    from app.reminders.channels import enabled_channels

    assert enabled_channels(config.as_dict()) == ["inapp", "email"]


def test_eager_default_sends_without_any_service(app, rules):  # noqa: F811
    from app.celery_app import init_celery
    from tasks.reminders import scan, send_due

    item_id = make_item(app, rules)
    init_celery(app)  # the test app: eager, as CELERY_ALWAYS_EAGER makes it
    result = scan.delay(NOW).get(timeout=10)
    assert result["resolution_overdue"]["sent"] >= 1
    assert overdue_notifications(app, item_id)[0] >= 1
    assert send_due.delay().get(timeout=10) == {}


def test_scan_through_a_real_worker_on_redis(app, rules, tmp_path):  # noqa: F811
    import celery.contrib.testing.tasks  # noqa: F401  (celery.ping, used by start_worker's check)
    import redis
    from celery.contrib.testing.worker import start_worker

    from app.celery_app import celery_app, init_celery
    from tasks.reminders import scan

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        service_unavailable(f"Redis ({REDIS_URL})")
    item_id = make_item(app, rules)
    queue = f"gongjian-reminders-{uuid.uuid4().hex[:8]}"
    init_celery(worker_app(app, tmp_path, CELERY_BROKER_URL=REDIS_URL, CELERY_DEFAULT_QUEUE=queue))
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=True, shutdown_timeout=10):
            result = scan.delay(NOW)
            report = result.get(timeout=60)
            result.forget()
            again = scan.delay(NOW).get(timeout=60)  # a second run sends nothing
    finally:
        client.delete(queue)
    assert report["resolution_overdue"]["sent"] >= 1
    assert sum(rule["sent"] for rule in again.values()) == 0
    assert overdue_notifications(app, item_id)[0] >= 1


def test_scan_through_a_worker_process_on_the_embedded_broker(app, rules, tmp_path):  # noqa: F811
    """`celery -A tasks.worker worker` on the SQLite broker under the data dir: no service at all."""
    from app.celery_app import celery_app, init_celery
    from tasks.reminders import scan

    item_id = make_item(app, rules)
    worker, log_path = start_worker_process(tmp_path, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        init_celery(worker_app(app, tmp_path))
        assert celery_app.conf.broker_url.startswith("sqla+sqlite:///")
        result = scan.delay(NOW)
        started = time.perf_counter()
        while not result.ready():
            assert worker.poll() is None, f"the worker exited:\n{log_path.read_text()}"
            assert time.perf_counter() - started < 60, f"no answer in 60 s:\n{log_path.read_text()}"
            time.sleep(0.1)
        report = result.get(timeout=1)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert report["resolution_overdue"]["sent"] >= 1, log_path.read_text()
    assert overdue_notifications(app, item_id)[0] >= 1
    assert "tasks.reminders.scan" in log_path.read_text()


@pytest.mark.parametrize("text,expected", [("2026-12-15T09:00", "2026-12-15 01:00:00"),
                                           ("2026-12-15T09:00+08:00", "2026-12-15 01:00:00"),
                                           ("2026-12-15T01:00:00+00:00", "2026-12-15 01:00:00")])
def test_now_is_local_time_unless_it_names_its_offset(text, expected):
    from app.reminders.moment import parse_moment

    assert str(parse_moment(text)) == expected
