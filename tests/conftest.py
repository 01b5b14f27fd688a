"""Test fixtures: a real app per database backend (SQLite, and PostgreSQL when reachable), a small
district with the contract's users, and clients that log in as those users with CSRF on.

Set GONGJIAN_REQUIRE_SERVICES=1 (CI does) to turn "PostgreSQL/Redis/Chromium unreachable" from
a skip into a failure. GONGJIAN_TEST_DATABASE_URL points at a PostgreSQL server whose database
may be used to create throw-away databases.

The clock: GONGJIAN_TEST_TODAY=YYYY-MM-DD runs the whole session on that day (time-machine, the
clock ticking from 10:00 in the district; child processes that import this file follow it), to
prove that no test depends on the day it runs (scripts/test-dates.sh). A test whose figures
depend on the day pins its own: ``@pytest.mark.today("2026-12-07")`` (or a module's
``pytestmark``) runs the test and its function-scoped fixtures (``world``...) on that day.
"""
import contextlib
import os
import re
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine

os.environ.setdefault("GONGJIAN_ENV", "testing")
# One audit key for every app and child process of the session: tests build several apps on one
# database (each with its own data directory, where a key file would differ). The key file's own
# path is tested with AUDIT_KEYS="" (tests/test_audit_keys.py).
TEST_AUDIT_KEYS = "t1:" + "5a" * 32
os.environ.setdefault("GONGJIAN_AUDIT_KEYS", TEST_AUDIT_KEYS)

REQUIRE_SERVICES = os.environ.get("GONGJIAN_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("GONGJIAN_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "Test-Passw0rd!"
BACKENDS = [b for b in os.environ.get("GONGJIAN_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


# ---- the clock ------------------------------------------------------------------------------------

def moment(day):
    """``day`` (a date or YYYY-MM-DD) at 10:00 in the district (Asia/Shanghai), i.e. 02:00 UTC: the
    same date in UTC (a travel sets the process's TZ to UTC) and in the district for 14 hours."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return datetime(day.year, day.month, day.day, 2, tzinfo=timezone.utc)


def real_time():
    """time.time() of the real clock, even while travelling."""
    hatch = time_machine.escape_hatch
    return hatch.time.time() if hatch.is_travelling() else time.time()


def travel(day, started=None):
    """A time-machine travel to ``day`` at 10:00 in the district, ticking; ``started`` (a
    real_time()) is when that moment was, for a child process joining its parent's clock."""
    destination = moment(day)
    if started is not None:
        destination += timedelta(seconds=max(0.0, real_time() - started))
    return time_machine.travel(destination, tick=True)


def _travel_the_session():
    """GONGJIAN_TEST_TODAY: travel the whole process, from the moment this file is imported (so
    test modules are collected on that day too). The real start is passed to child processes in
    GONGJIAN_TEST_CLOCK_STARTED: one that imports this file (a worker started by a test) reads
    the same clock as the test that started it."""
    day = os.environ.get("GONGJIAN_TEST_TODAY")
    if not day:
        return None
    try:
        date.fromisoformat(day)
    except ValueError:
        raise SystemExit(f"GONGJIAN_TEST_TODAY={day!r}: give a date as YYYY-MM-DD") from None
    started = float(os.environ.setdefault("GONGJIAN_TEST_CLOCK_STARTED", repr(real_time())))
    traveller = travel(day, started)
    traveller.start()
    return traveller


SESSION_TRAVEL = _travel_the_session()


def python_command(module):
    """``[python, -m, module]`` for a child process, on this process's clock: while travelling
    (GONGJIAN_TEST_TODAY, or a test's pinned day) the child imports this file first."""
    if not os.environ.get("GONGJIAN_TEST_TODAY"):
        return [sys.executable, "-m", module]
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    return [sys.executable, "-c", f"import runpy, sys; sys.path.insert(0, {tests_dir!r}); import conftest; "
                                  f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"]


def pytest_configure(config):
    config.addinivalue_line("markers", "today(day): run the test and its function-scoped fixtures on "
                                       "``day`` (a date or YYYY-MM-DD) at 10:00 in the district")


def pytest_report_header(config):
    day = os.environ.get("GONGJIAN_TEST_TODAY")
    return f"clock: {'GONGJIAN_TEST_TODAY=' + day if day else 'the real day'} ({date.today()})"


@contextlib.contextmanager
def on_day(day):
    """Run the block on ``day`` (a date or YYYY-MM-DD) at 10:00 in the district, the clock ticking;
    child processes started meanwhile follow (they see GONGJIAN_TEST_TODAY: python_command)."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    saved = {k: os.environ.get(k) for k in ("GONGJIAN_TEST_TODAY", "GONGJIAN_TEST_CLOCK_STARTED")}
    os.environ.update(GONGJIAN_TEST_TODAY=day.isoformat(), GONGJIAN_TEST_CLOCK_STARTED=repr(real_time()))
    try:
        with travel(day):
            yield day
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(autouse=True)
def pinned_clock(request):
    """Runs a test marked ``today(day)`` on that day, from before its other function-scoped
    fixtures (autouse fixtures come first) to after them. Yields the day, or None if unmarked."""
    marker = request.node.get_closest_marker("today")
    if marker is None:
        yield None
        return
    with on_day(marker.args[0]) as day:
        yield day


@pytest.fixture(autouse=True)
def seeded_fakes(request):
    """Each test's invented data (names, ID-card and phone numbers...) depends on that test alone,
    not on which tests ran before it: every module-level FakeData of the test's module and of
    tests/factories.py starts from a seed made of the test's id, and the ID-card numbers handed
    out so far are forgotten (the previous test's records are gone)."""
    import zlib

    from app.demo.fakedata import FakeData
    from tests import factories

    modules = [m for m in (getattr(request, "module", None), factories) if m is not None]
    seed = zlib.crc32(request.node.nodeid.encode())
    for module in modules:
        for name, value in sorted(vars(module).items()):
            if isinstance(value, FakeData):
                value.rng.seed(zlib.crc32(f"{module.__name__}.{name}".encode()) ^ seed)
    factories._issued_id_cards.clear()
    yield


def service_unavailable(what):
    """Skip on a laptop without the service; fail in CI (GONGJIAN_REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (GONGJIAN_REQUIRE_SERVICES=1) but unreachable")
    pytest.skip(f"{what} unreachable")


def _pg_admin_url():
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def create_pg_database():
    """Create a throw-away database on the test server; returns (sqlalchemy url, drop function)."""
    import psycopg

    name = f"gongjian_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(_pg_admin_url(), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        service_unavailable("PostgreSQL")
    base = PG_URL.rsplit("/", 1)[0]

    def drop():
        with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def make_app(tmp_dir, database_url=None, **overrides):
    from app import create_app

    config = {
        "GONGJIAN_ENV": "testing",
        "TESTING": True,
        "DATA_DIR": str(tmp_dir),
        "UPLOAD_FOLDER": str(tmp_dir / "uploads"),
        "SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{tmp_dir}/gongjian.sqlite",
        "WTF_CSRF_ENABLED": True,
        "CELERY_ALWAYS_EAGER": True,
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_dir}/celery-broker.sqlite",
        "CELERY_RESULT_BACKEND": f"db+sqlite:///{tmp_dir}/celery-results.sqlite",
        "DEMO_PASSWORD": PASSWORD,
        # The fixtures' accounts (auditor, admin...) are not made to enrol a second factor, as they
        # are not made to change their password (the testing environment's default, said here);
        # tests/test_two_factor.py turns it on.
        "TWO_FACTOR_ENFORCED": False,
        **overrides,
    }
    from config import engine_options

    config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config["SQLALCHEMY_DATABASE_URI"])
    return create_app(config)


def run_cli(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="session", params=BACKENDS)
def app(request, tmp_path_factory):
    """A migrated app with roles, reference data and the test users, per backend."""
    drop = None
    url = None
    if request.param == "postgresql":
        url, drop = create_pg_database()
    tmp_dir = tmp_path_factory.mktemp(f"gongjian-{request.param}")
    application = make_app(tmp_dir, url)
    application.config["BACKEND"] = request.param
    run_cli(application, "gongjian", "init")
    with application.app_context():
        from tests.factories import create_users

        create_users(application)
    yield application
    if drop is not None:
        from app.extensions import db

        with application.app_context():
            db.engine.dispose()
        drop()


@pytest.fixture
def world(app):
    """A small district: two streets, two communities with grids, units, and each test user's
    scope. Everything is removed after the test (users stay)."""
    from tests.factories import build_world, clean_business_data

    with app.app_context():
        if app.config.get("TEST_DATA_LEFT", True):  # the users' own entries, or a test without a world
            clean_business_data(app)
        data = build_world(app)
    yield data
    with app.app_context():
        clean_business_data(app)
    app.config["TEST_DATA_LEFT"] = False


@pytest.fixture(autouse=True)
def data_left_behind(request):
    """After a test that used the app without a ``world`` (logins, lockouts and refusals write audit
    entries and rows no teardown removes), the next ``world`` starts by cleaning: a world test
    never sees what another test left, whatever the order."""
    yield
    funcargs = getattr(request.node, "funcargs", None) or {}  # None after an interrupted test
    application = funcargs.get("app")
    if application is not None and "world" not in request.fixturenames:
        application.config["TEST_DATA_LEFT"] = True


@pytest.fixture
def db_session(app):
    from app.extensions import db

    with app.app_context():
        yield db.session


class Browser:
    """A test client logged in through the real login form, with CSRF on."""

    def __init__(self, app, username=None):
        self.app = app
        self.client = app.test_client()
        if username:
            self.login(username)

    def csrf_token(self, url):
        page = self.client.get(url)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)) or \
            re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
        assert match, f"no CSRF token on {url}: {page.status_code}"
        return match.group(1)

    def login(self, username, password=PASSWORD):
        token = self.csrf_token("/login/")
        response = self.client.post("/login/", data={"username": username, "password": password,
                                                     "csrf_token": token})
        return response

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def submit(self, form_url, data, post_url=None):
        """GET a form page (for its CSRF token), then POST the data to it."""
        token = self.csrf_token(form_url)
        return self.client.post(post_url or form_url, data={**data, "csrf_token": token})

    def post(self, url, data=None, with_token_from=None):
        data = dict(data or {})
        if with_token_from:
            data["csrf_token"] = self.csrf_token(with_token_from)
        return self.client.post(url, data=data)


class Api:
    """A REST client authenticated with a JWT from /api/v1/security/login."""

    def __init__(self, app, username, password=PASSWORD):
        self.client = app.test_client()
        response = self.client.post("/api/v1/security/login",
                                    json={"username": username, "password": password, "provider": "db"})
        assert response.status_code == 200, response.get_data(as_text=True)
        self.headers = {"Authorization": f"Bearer {response.json['access_token']}"}

    def get(self, url, **kwargs):
        return self.client.get(url, headers=self.headers, **kwargs)

    def post(self, url, json=None):
        return self.client.post(url, headers=self.headers, json=json)

    def put(self, url, json=None):
        return self.client.put(url, headers=self.headers, json=json)

    def delete(self, url):
        return self.client.delete(url, headers=self.headers)


@pytest.fixture
def browser(app):
    return lambda username=None: Browser(app, username)


@pytest.fixture
def api(app):
    return lambda username: Api(app, username)


def pytest_collection_modifyitems(config, items):
    """Mark tests that run on the PostgreSQL backend, so `-m postgres` selects them."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("app") == "postgresql":
            item.add_marker(pytest.mark.postgres)
