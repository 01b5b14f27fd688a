"""Extension singletons, initialised per app in create_app (Superset's extensions module)."""
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

db = SQLAlchemy()
migrate = Migrate()


def sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite in write-ahead-log mode: readers never wait for the writer, commits cost one fsync."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def listen_once(name, fn):
    """Register a Session event hook once per process (create_app runs once per app, tests make
    many apps); hooks run in registration order."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, name, fn):
        event.listen(Session, name, fn)


# Every form POST needs its token; FAB exempts its token-authenticated API blueprints.
csrf = CSRFProtect()
