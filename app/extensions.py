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


def init_sqlite(app):
    """Put every SQLite connection of the app in WAL mode (no-op on other databases)."""
    from sqlalchemy import event

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        if not event.contains(db.engine, "connect", sqlite_pragmas):
            event.listen(db.engine, "connect", sqlite_pragmas)


def listen_once(name, fn):
    """Register a Session event hook once per process (create_app runs once per app, tests make
    many apps); hooks run in registration order."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, name, fn):
        event.listen(Session, name, fn)


# Every form POST needs its token; FAB exempts its token-authenticated API blueprints.
csrf = CSRFProtect()
