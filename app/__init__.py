"""Gongjian (共建): the application factory ``create_app``.

Layout: models/ (tables), views/ (FAB screens and REST APIs), tasks/ (Celery), and here the
rules every path shares — scope, audit, validation, masking — and the business operations.
"""
import logging
import os

from flask import Flask

from config import Config, DEMO_SECRET_KEY

log = logging.getLogger(__name__)


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or incomplete for the chosen mode."""


def check_production_config(config):
    """Refuse a production start with a missing, default or short SECRET_KEY."""
    if config.get("GONGJIAN_ENV") != "production":
        return
    key = config.get("SECRET_KEY") or ""
    if key == DEMO_SECRET_KEY or len(key) < 32:
        raise ConfigurationError(
            "SECRET_KEY must be set to a random value of at least 32 characters in production"
        )


def create_app(overrides=None):
    """Build a Flask app. ``overrides`` (a dict) wins over the environment (used by tests)."""
    from flask_appbuilder import AppBuilder

    from app import areas, audit, scope
    from app.extensions import csrf, db, migrate
    from app.security import GongjianSecurityManager, install_web_hardening

    app = Flask(__name__)
    app.config.update(Config().as_dict())
    app.config.update(overrides or {})
    check_production_config(app.config)
    # Compile the catalogues when a fresh clone has only the .po files (before FAB rewrites the
    # translation directories setting).
    from app.i18n import ensure_compiled

    ensure_compiled(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    os.makedirs(app.config["DATA_DIR"], exist_ok=True)
    os.makedirs(app.config["UPLOAD_FOLDER"], exist_ok=True)
    app.config["FAB_CREATE_DB"] = False  # Alembic is the only way the schema changes.

    import models  # noqa: F401  (registers every table)

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from sqlalchemy import event

        from app.extensions import sqlite_pragmas

        with app.app_context():
            if not event.contains(db.engine, "connect", sqlite_pragmas):
                event.listen(db.engine, "connect", sqlite_pragmas)
    csrf.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    areas.install()
    scope.install()
    audit.install()

    with app.app_context():
        appbuilder = AppBuilder(security_manager_class=GongjianSecurityManager, update_perms=False)
        appbuilder.init_app(app, db.session)
        from views import register_views

        register_views(appbuilder)

    from app.errors import register_error_handlers
    from app.cli import gongjian_cli

    register_error_handlers(app)
    install_web_hardening(app)
    audit.register_refusal_audit(app)
    app.cli.add_command(gongjian_cli)
    from tasks import init_celery

    init_celery(app)  # tasks sent from this app use its settings (broker, eager mode)
    return app
