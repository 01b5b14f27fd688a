"""audit entries chained with a keyed MAC (key id per entry)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 00:30:00

Each audit entry records the id of the key its link (``entry_hash``) was computed with:
HMAC-SHA256 under a key kept outside the database (app/core/audit_keys.py). The database can no
longer compute links, so migration 0010's ``gongjian_audit_append`` (which hashed inside
PostgreSQL) gives way to ``gongjian_audit_tail``: it takes the chain's advisory lock and then
reads the last entry, and the application inserts the entries it chained. The read must see every
entry committed before the lock was granted: each statement of a VOLATILE PL/pgSQL function takes
a fresh snapshot (READ COMMITTED), so the SELECT after the lock does.

Entries already written keep no key id and their plain SHA-256 links; verification accepts them
only before the first keyed entry.
"""
import importlib.util
import os

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# The advisory lock key is app/core/audit_chain.py's ADVISORY_LOCK_KEY ("GJAUDIT"), kept literal
# here so the migration does not change when the application does.
TAIL_FUNCTION = """
CREATE OR REPLACE FUNCTION gongjian_audit_tail(OUT last_id bigint, OUT last_hash text) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(20066367810324820);
    SELECT id, entry_hash INTO last_id, last_hash FROM audit_log ORDER BY id DESC LIMIT 1;
END
$$ LANGUAGE plpgsql VOLATILE
"""
APPEND_SIGNATURE = ("gongjian_audit_append(timestamp, integer, text, text, text, text, text, text, text, text,"
                    " integer, text, text, text, text)")


def _revision_0010():
    """Migration 0010's module (its function text, for the downgrade)."""
    path = os.path.join(os.path.dirname(__file__), "0010_audit_append_function.py")
    spec = importlib.util.spec_from_file_location("gongjian_migration_0010", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade():
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(16)))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TAIL_FUNCTION)
        op.execute(f"DROP FUNCTION IF EXISTS {APPEND_SIGNATURE}")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS gongjian_audit_tail()")
        op.execute(_revision_0010().FUNCTION)
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("key_id")
