"""login sessions kept server-side (own sessions, online users, forced logout)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:30:00

One row per screen or API login (models/user_session.py); the key is stored as its SHA-256
digest only. The index serves "the open sessions of an account".
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("client_addr", sa.String(64)),
        sa.Column("user_agent", sa.String(300)),
        sa.Column("ended_at", sa.DateTime()),
        sa.Column("ended_by", sa.String(64)),
        sa.Column("end_reason", sa.String(20)),
    )
    op.create_index("ix_user_session_user_ended", "user_session", ["user_id", "ended_at"])


def downgrade():
    op.drop_index("ix_user_session_user_ended", table_name="user_session")
    op.drop_table("user_session")
