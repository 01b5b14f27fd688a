"""needs, resources and projects record who submitted them (four eyes on approvals)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 22:10:00

Existing rows take the account that created them, from the audit log's create entry (none when
the system created them, e.g. demo data).
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TABLES = ("need", "resource", "project")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("submitted_by", sa.String(64)))
        op.execute(sa.text(
            f"UPDATE {table} SET submitted_by = (SELECT a.actor FROM audit_log a WHERE a.action = 'create' "
            f"AND a.record_type = :table AND a.record_id = CAST({table}.id AS VARCHAR(64)) "
            f"AND a.actor <> 'system' ORDER BY a.id LIMIT 1)").bindparams(table=table))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("submitted_by")
