"""audit log index on (record_type, record_id) for a record's change history

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:20:00
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_audit_log_record", "audit_log", ["record_type", "record_id"])


def downgrade():
    op.drop_index("ix_audit_log_record", table_name="audit_log")
