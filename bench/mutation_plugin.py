"""pytest plugin for the mutation sweep (bench/mutation.py loads it with ``-p bench.mutation_plugin``;
never loaded by the ordinary test run).

mutmut runs the selected tests once in its main process (to learn which tests call which
function), then forks one child per mutant and runs ``pytest.main`` again in it. Each of those
sessions would build the session-scoped ``app`` fixture from scratch (create_app, ``gongjian
init``, the test users: ~10 s on a busy machine), which makes a sweep of a few hundred mutants
take hours. This plugin builds the SQLite app once, takes a snapshot of its database and data
directory, and hands every later session (in the main process or a forked child) the same app
object bound to a fresh copy of that snapshot: a private database file and data directory per
session, so parallel children never share state and a crashed mutant leaves nothing behind.

The cost: code that runs only while the app is built (create_app, ``gongjian init``: role and
permission sync, error-handler registration) runs unmutated. bench/mutation.py therefore
re-checks every mutant that survives with GONGJIAN_MUTATION_FRESH_APP=1, which turns this plugin
off (each child then builds its own app with the mutant active).
"""
import atexit
import os
import shutil
import sqlite3
import tempfile

import pytest

_snapshot = {}  # backend -> (app, snapshot dir)
_session_dirs = []
_owner_pid = None
_counter = [0]


def _enabled():
    return os.environ.get("GONGJIAN_MUTATION_FRESH_APP") != "1"


def _db_path(app):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    assert url.startswith("sqlite:///"), url
    return url[len("sqlite:///"):]


def _take_snapshot(app):
    global _owner_pid
    base = tempfile.mkdtemp(prefix="gongjian-mutation-app-")
    _owner_pid = os.getpid()
    atexit.register(lambda: os.getpid() == _owner_pid and shutil.rmtree(base, ignore_errors=True))
    data = os.path.join(base, "data")
    os.makedirs(os.path.join(data, "uploads"))
    source = sqlite3.connect(_db_path(app))
    target = sqlite3.connect(os.path.join(data, "gongjian.sqlite"))
    with target:
        source.backup(target)
    source.close()
    target.close()
    return base


def _bind_to_copy(app, base):
    """Point the app at a fresh copy of the snapshot (database file and data directory)."""
    import sqlalchemy as sa
    from sqlalchemy import event

    from app.extensions import db, sqlite_pragmas
    from config import engine_options

    _counter[0] += 1
    data = os.path.join(base, f"run-{os.getpid()}-{_counter[0]}")
    shutil.copytree(os.path.join(base, "data"), data)
    _session_dirs.append(data)
    url = f"sqlite:///{os.path.join(data, 'gongjian.sqlite')}"
    engines = db._app_engines[app]
    old = engines.get(None)
    if old is not None:
        old.dispose(close=False)  # inherited connections belong to the parent process
    engine = sa.create_engine(url, **engine_options(url))
    event.listen(engine, "connect", sqlite_pragmas)
    engines[None] = engine
    app.config.update(SQLALCHEMY_DATABASE_URI=url, DATA_DIR=data, UPLOAD_FOLDER=os.path.join(data, "uploads"))


class _Snapshotter:
    """Takes the snapshot right after the first SQLite app is built (before any test runs)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        app = yield
        backend = getattr(request, "param", None)
        if fixturedef.argname == "app" and backend == "sqlite" and backend not in _snapshot and _enabled():
            _snapshot[backend] = (app, _take_snapshot(app))
        return app


def pytest_configure(config):
    config.pluginmanager.register(_Snapshotter(), "gongjian-mutation-snapshot")


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef, request):
    """Every later session: the snapshot's app on a private copy of its database."""
    if fixturedef.argname != "app" or not _enabled():
        return None
    backend = getattr(request, "param", None)
    if backend not in _snapshot:
        return None
    app, base = _snapshot[backend]
    _bind_to_copy(app, base)
    fixturedef.cached_result = (app, fixturedef.cache_key(request), None)
    return app


def pytest_sessionfinish(session):
    from app.extensions import db

    for app, _base in _snapshot.values():
        engine = db._app_engines.get(app, {}).get(None)
        if engine is not None:
            engine.dispose(close=os.getpid() == _owner_pid)
    while _session_dirs:
        shutil.rmtree(_session_dirs.pop(), ignore_errors=True)
