"""project claims are approved like the three lists; every approval may carry a reviewer's note

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 10:00:00

``project_claim`` gets the approval columns of ``need``, ``resource`` and ``project``
(submitted_by, status, reviewed_by, reviewed_at, reject_reason); the four tables get
``review_note``. Existing claims were accepted before claims needed a reviewer: they become
approved, reviewed by ``system`` (their submitter from the audit log's create entry, as 0014 did).
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

TABLES = ("need", "resource", "project", "project_claim")


def upgrade():
    with op.batch_alter_table("project_claim") as batch_op:
        batch_op.add_column(sa.Column("submitted_by", sa.String(64)))
        # A server default fills the rows already there; the model's default serves new ones.
        batch_op.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="approved"))
        batch_op.add_column(sa.Column("reviewed_by", sa.String(50)))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime()))
        batch_op.add_column(sa.Column("reject_reason", sa.Text()))
        batch_op.create_index(batch_op.f("ix_project_claim_status"), ["status"], unique=False)
    with op.batch_alter_table("project_claim") as batch_op:
        batch_op.alter_column("status", server_default=None, existing_type=sa.String(20), existing_nullable=False)
    op.execute(sa.text(
        "UPDATE project_claim SET reviewed_by = 'system', submitted_by = (SELECT a.actor FROM audit_log a "
        "WHERE a.action = 'create' AND a.record_type = 'project_claim' "
        "AND a.record_id = CAST(project_claim.id AS VARCHAR(64)) AND a.actor <> 'system' ORDER BY a.id LIMIT 1)"))
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("review_note", sa.Text()))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("review_note")
    with op.batch_alter_table("project_claim") as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_claim_status"))
        for column in ("reject_reason", "reviewed_at", "reviewed_by", "status", "submitted_by"):
            batch_op.drop_column(column)
