"""audit log: fewer indexes (every write appends an entry; each index slows that down)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 21:40:00

record_type lookups use ix_audit_log_record's prefix; actor_id, area_id and record_id alone are
not searched on their own.
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

DROPPED = [("ix_audit_log_actor_id", "actor_id"), ("ix_audit_log_area_id", "area_id"),
           ("ix_audit_log_record_id", "record_id"), ("ix_audit_log_record_type", "record_type")]


def upgrade():
    for name, _column in DROPPED:
        op.drop_index(name, table_name="audit_log")


def downgrade():
    for name, column in DROPPED:
        op.create_index(name, "audit_log", [column])
