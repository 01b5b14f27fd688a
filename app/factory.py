"""The application factory ``create_app`` (reached as ``app:create_app``): the top floor, where the
rules of app/core, the views, the tasks and the CLI are wired into one Flask app.
"""
import logging
import os

from flask import Flask
from flask_appbuilder import AppBuilder

import models  # noqa: F401  (registers every table)
import tasks.exports  # noqa: F401  (registers the tasks, so screens can send them)
import tasks.maintenance  # noqa: F401
import tasks.reminders  # noqa: F401
from app.celery_app import init_celery
from app.cli import gongjian_cli
from app.core import approvals, area_tree, audit, audit_keys, duties, scope, sessions
from app.core.errors import register_error_handlers
from app.core.formats import password_complexity
from app.core.request_state import request_state_per_thread
from app.extensions import csrf, db, init_sqlite, migrate
from app.i18n import ensure_compiled
from config import DEMO_SECRET_KEY, Config
from views.menu import register_views
from views.security import GongjianSecurityManager, install_web_hardening

log = logging.getLogger(__name__)


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or incomplete for the chosen mode."""


def check_production_config(config):
    """Refuse a production start with a missing, default or short SECRET_KEY, or without the
    audit log's key (each machine would otherwise make its own)."""
    if config.get("GONGJIAN_ENV") != "production":
        return
    key = config.get("SECRET_KEY") or ""
    if key == DEMO_SECRET_KEY or len(key) < 32:
        raise ConfigurationError(
            "SECRET_KEY must be set to a random value of at least 32 characters in production"
        )
    try:
        audit_keys.check_configured(config)
    except audit_keys.AuditKeyError as error:
        raise ConfigurationError(str(error)) from None


def create_app(overrides=None):
    """Build a Flask app. ``overrides`` (a dict) wins over the environment (used by tests)."""
    app = Flask("app")  # the package: templates and static files live in app/
    _load_config(app, overrides)
    _init_database(app)
    _init_appbuilder(app)
    _init_web(app)
    return app


def _load_config(app, overrides):
    app.config.update(Config().as_dict())
    app.config.update(overrides or {})
    check_production_config(app.config)
    # FAB checks new passwords with this; the rule lives in app/core/formats.py.
    app.config["FAB_PASSWORD_COMPLEXITY_VALIDATOR"] = password_complexity
    app.config["FAB_CREATE_DB"] = False  # Alembic is the only way the schema changes.
    os.makedirs(app.config["DATA_DIR"], exist_ok=True)
    os.makedirs(app.config["UPLOAD_FOLDER"], exist_ok=True)
    # Compile the catalogues when a fresh clone has only the .po files (before FAB rewrites the
    # translation directories setting).
    ensure_compiled(app.config["BABEL_TRANSLATION_DIRECTORIES"])


def _init_database(app):
    """The database, its migrations, and the session hooks every write goes through, in order:
    area upkeep, then the scope check, then the separation of duties (accounts,
    sessions, approvals), then the audit entry."""
    db.init_app(app)
    init_sqlite(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    area_tree.install()
    scope.install()
    duties.install()
    sessions.install()
    approvals.install()
    audit.install()


def _init_appbuilder(app):
    csrf.init_app(app)  # before FAB, which exempts its token-authenticated API blueprints
    with app.app_context():
        appbuilder = AppBuilder(security_manager_class=GongjianSecurityManager, update_perms=False)
        appbuilder.init_app(app, db.session)
        register_views(appbuilder)
        request_state_per_thread(appbuilder.baseviews)  # FAB shares them between requests


def _init_web(app):
    register_error_handlers(app)
    install_web_hardening(app)
    audit.register_refusal_audit(app)
    app.cli.add_command(gongjian_cli)
    init_celery(app)  # tasks sent from this app use its settings (broker, eager mode)
