"""Migrations are the only way the schema changes: they build the whole schema from empty on
each backend, match the models exactly, and downgrade cleanly."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.extensions import db
from models.base import schema_objects_for
from tests.conftest import create_pg_database, make_app


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_app(request, tmp_path):
    drop = None
    url = None
    if request.param == "postgresql":
        url, drop = create_pg_database()
    application = make_app(tmp_path, url)
    yield application
    if drop:
        with application.app_context():
            db.engine.dispose()
        drop()


def test_upgrade_from_empty_matches_models_and_downgrades(empty_app):
    from flask_appbuilder import Model

    with empty_app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {t.name for t in Model.metadata.sorted_tables} <= tables
        with db.engine.connect() as connection:
            opts = {"compare_type": False, "include_object": schema_objects_for(connection.dialect.name)}
            diff = compare_metadata(MigrationContext.configure(connection, opts=opts), Model.metadata)
        assert diff == [], diff
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
