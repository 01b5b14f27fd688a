"""password history, expiry and forced change; the login captcha's challenges

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:30:00

account_password (one row per account: when its password was set, by whom, must it be changed),
password_history (past password hashes) and captcha_challenge (open captcha challenges; only an
HMAC of the answer) — app/core/passwords.py and app/core/captcha.py. Existing accounts start
with their current password as history and its age counted from this migration, with nothing to
change. The policy's settings are rows of the parameters table, written by `gongjian init`.
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "account_password",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("must_change", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_password_history_user_id", "password_history", ["user_id"])
    op.create_table(
        "captcha_challenge",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("answer_digest", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_captcha_challenge_expires_at", "captcha_challenge", ["expires_at"])
    # The accounts of today: their password is history, aged from now, nothing to change.
    now = sa.bindparam("now", datetime.now(UTC).replace(tzinfo=None), type_=sa.DateTime())
    no = sa.bindparam("no", False, type_=sa.Boolean())
    op.execute(sa.text(
        "INSERT INTO account_password (user_id, changed_at, changed_by, must_change) "
        "SELECT id, :now, 'migration', :no FROM ab_user").bindparams(now, no))
    op.execute(sa.text(
        "INSERT INTO password_history (user_id, password_hash, changed_at) "
        "SELECT id, password, :now FROM ab_user WHERE password IS NOT NULL").bindparams(now))


def downgrade():
    op.drop_index("ix_captcha_challenge_expires_at", table_name="captcha_challenge")
    op.drop_table("captcha_challenge")
    op.drop_index("ix_password_history_user_id", table_name="password_history")
    op.drop_table("password_history")
    op.drop_table("account_password")
