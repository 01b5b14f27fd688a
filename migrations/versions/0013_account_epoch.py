"""account_epoch: the number of times an account's sessions were ended

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:30:00

Login sessions and API tokens carry the account's epoch when they were made and are refused once
it moved on (app/core/sessions.py). No row means epoch 0.
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "account_epoch",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("changed_at", sa.DateTime()),
    )


def downgrade():
    op.drop_table("account_epoch")
