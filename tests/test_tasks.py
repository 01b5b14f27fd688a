"""The Celery wiring really works: a real worker on Redis, a real worker process on the embedded
SQLite broker, and the purge of consumed broker messages.

Redis is GONGJIAN_TEST_REDIS_URL (default redis://127.0.0.1:6379/15); unreachable → skip, or fail
with GONGJIAN_REQUIRE_SERVICES=1.
"""
import os
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import python_command, service_unavailable

PROJECT_DIR = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("GONGJIAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def celery_flask_app(data_dir, **overrides):
    """A real Flask app whose config init_celery reads (no schema needed: ping writes nothing)."""
    from app import create_app
    from config import engine_options

    url = f"sqlite:///{data_dir}/gongjian.sqlite"
    return create_app({
        "GONGJIAN_ENV": "testing",
        "TESTING": True,
        "DATA_DIR": str(data_dir),
        "UPLOAD_FOLDER": str(data_dir / "uploads"),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        # Spelled out: config.Config derives them from GONGJIAN_DATA_DIR, not from this DATA_DIR.
        "CELERY_BROKER_URL": f"sqla+sqlite:///{data_dir}/celery-broker.sqlite",
        "CELERY_RESULT_BACKEND": f"db+sqlite:///{data_dir}/celery-results.sqlite",
        "CELERY_ALWAYS_EAGER": False,
        **overrides,
    })


@pytest.fixture(autouse=True)
def restore_celery():
    """These tests point the process-wide celery_app at their own brokers: put it back after."""
    from app import celery_app as celery_module
    from config import Config

    previous = celery_module.celery_app.flask_app
    yield
    if previous is not None:
        celery_module.init_celery(previous)
    else:
        with celery_module._lock:
            celery_module.celery_app.conf.update(celery_module.celery_config(Config().as_dict()))
            celery_module.celery_app.flask_app = None
            celery_module._forget_connections()
            celery_module._connection_key = None


def assert_pong(result, data_dir, env="testing"):
    assert result["pong"] is True
    assert result["data_dir"] == str(data_dir)  # the task ran in the app context of that app
    assert result["env"] == env
    at = datetime.fromisoformat(result["at"])
    assert at.utcoffset() == timedelta(hours=8)  # Asia/Shanghai
    assert abs((datetime.now(at.tzinfo) - at).total_seconds()) < 60


def round_trips(task, count=5):
    """Milliseconds from send to result, per call."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        task.delay().get(timeout=30, interval=0.01)
        times.append((time.perf_counter() - started) * 1000)
    return times


def test_configuration_follows_the_flask_config(tmp_path):
    """Embedded default, Redis, and eager mode are chosen by the Flask config alone."""
    from app.celery_app import celery_config

    base = {"DATA_DIR": str(tmp_path)}
    embedded = celery_config(base)
    assert embedded["broker_url"] == f"sqla+sqlite:///{tmp_path}/celery-broker.sqlite"
    assert embedded["result_backend"] == f"db+sqlite:///{tmp_path}/celery-results.sqlite"
    assert embedded["broker_transport_options"] == {"connect_args": {"timeout": 30}}
    assert "polling_interval" not in embedded["broker_transport_options"]  # it would reach create_engine()
    assert embedded["beat_schedule_filename"] == str(tmp_path / "celerybeat-schedule")
    assert embedded["broker_connection_retry_on_startup"] is True
    assert embedded["result_expires"] > 0
    assert embedded["timezone"] == "Asia/Shanghai"
    assert embedded["task_always_eager"] is False
    assert {e["task"] for e in embedded["beat_schedule"].values()} >= {
        "tasks.maintenance.purge_broker_messages", "tasks.maintenance.ping"}

    redis = celery_config({**base, "CELERY_BROKER_URL": "redis://cache:6379/0",
                           "CELERY_RESULT_BACKEND": f"db+sqlite:///{tmp_path}/celery-results.sqlite"})
    assert redis["broker_url"] == redis["result_backend"] == "redis://cache:6379/0"
    assert "connect_args" not in redis["broker_transport_options"]

    eager = celery_config({**base, "CELERY_ALWAYS_EAGER": True})
    assert eager["task_always_eager"] is True and eager["task_eager_propagates"] is True


def test_eager_mode_runs_the_task_in_an_app_context(tmp_path):
    from app.celery_app import init_celery
    from tasks.maintenance import ping

    init_celery(celery_flask_app(tmp_path, CELERY_ALWAYS_EAGER=True))
    assert_pong(ping.delay().get(timeout=1), tmp_path)


def test_ping_through_a_real_worker_on_redis(tmp_path):
    import celery.contrib.testing.tasks  # noqa: F401  (celery.ping, used by start_worker's check)
    import redis
    from celery.contrib.testing.worker import start_worker

    from app.celery_app import celery_app, init_celery
    from tasks.maintenance import ping

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        service_unavailable(f"Redis ({REDIS_URL})")
    queue = f"gongjian-test-{uuid.uuid4().hex[:8]}"  # other test runs may share this Redis
    flask_app = celery_flask_app(tmp_path, CELERY_BROKER_URL=REDIS_URL, CELERY_DEFAULT_QUEUE=queue)
    init_celery(flask_app)
    assert celery_app.conf.result_backend == REDIS_URL
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=True, shutdown_timeout=10):
            result = ping.delay()
            assert_pong(result.get(timeout=10), tmp_path)
            result.forget()
            times = round_trips(ping)
    finally:
        client.delete(queue)
    print(f"\nRedis ping round trips (ms): {[round(t) for t in times]}")
    assert min(times) < 1000


def start_worker_process(data_dir, **environment):
    """A real ``celery -A tasks.worker worker`` process (solo pool) on the embedded SQLite broker
    under ``data_dir``, its app built from the environment (plus ``environment``); returns the
    process and the path of its log."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    env.update(GONGJIAN_ENV="testing", GONGJIAN_DATA_DIR=str(data_dir), CELERY_ALWAYS_EAGER="0",
               PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_DIR), env.get("PYTHONPATH")])),
               **environment)
    log_path = data_dir / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(  # on the test's clock (conftest.python_command)
            python_command("celery") + ["-A", "tasks.worker", "worker", "--pool=solo", "--loglevel=info"],
            cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return worker, log_path


def test_ping_through_a_worker_process_on_the_embedded_broker(tmp_path):
    """`celery -A tasks.worker worker` builds the Flask app from the environment, consumes from
    the SQLite broker under the data dir and answers the ping within seconds."""
    from app.celery_app import celery_app, init_celery
    from tasks.maintenance import ping

    broker = f"sqla+sqlite:///{tmp_path}/celery-broker.sqlite"
    backend = f"db+sqlite:///{tmp_path}/celery-results.sqlite"
    worker, log_path = start_worker_process(tmp_path)
    try:
        init_celery(celery_flask_app(tmp_path))
        assert celery_app.conf.broker_url == broker and celery_app.conf.result_backend == backend
        started = time.perf_counter()
        result = ping.delay()  # waits in the broker until the worker is up
        while not result.ready():
            assert worker.poll() is None, f"the worker exited:\n{log_path.read_text()}"
            assert time.perf_counter() - started < 30, f"no answer in 30 s:\n{log_path.read_text()}"
            time.sleep(0.05)
        assert_pong(result.get(timeout=1), tmp_path)
        first = time.perf_counter() - started
        times = round_trips(ping)
        print(f"\nEmbedded broker: first ping (worker start included) {first:.1f} s; "
              f"round trips (ms): {[round(t) for t in times]}")
        assert min(times) < 1000  # ~0.1 s polling, not kombu's default 1 s
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown
        try:
            code = worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            pytest.fail(f"the worker did not stop on SIGTERM:\n{log_path.read_text()}")
    assert code == 0, log_path.read_text()
    assert "tasks.maintenance.ping" in log_path.read_text()


def test_purge_broker_messages_deletes_consumed_rows_only(tmp_path):
    from kombu import Connection
    from sqlalchemy import create_engine, text

    from app.celery_app import init_celery, purge_consumed_messages
    from tasks.maintenance import purge_broker_messages

    broker = f"sqla+sqlite:///{tmp_path}/celery-broker.sqlite"
    init_celery(celery_flask_app(tmp_path))
    with Connection(broker, transport_options={"connect_args": {"timeout": 30}}) as conn:
        queue = conn.SimpleQueue("purge-test")
        for n in range(5):
            queue.put({"n": n})
        for _ in range(3):
            message = queue.get(timeout=5)
            message.ack()
        queue.close()

    engine = create_engine(f"sqlite:///{tmp_path}/celery-broker.sqlite")

    def rows():
        with engine.connect() as db:
            return dict(db.execute(text("SELECT visible, count(*) FROM kombu_message GROUP BY visible")).all())

    assert rows() == {0: 3, 1: 2}  # kombu keeps what it delivered
    assert purge_broker_messages.apply().get() == 3  # through the task, as beat runs it
    assert rows() == {1: 2}
    assert purge_consumed_messages(broker) == 0
    with Connection(broker, transport_options={"connect_args": {"timeout": 30}}) as conn:
        queue = conn.SimpleQueue("purge-test")
        left = [queue.get(timeout=5) for _ in range(2)]
        assert sorted(m.payload["n"] for m in left) == [3, 4]  # pending messages survived
        for message in left:
            message.ack()
        queue.close()
    engine.dispose()
    assert purge_consumed_messages("redis://127.0.0.1:6379/15") == 0  # no-op on Redis
