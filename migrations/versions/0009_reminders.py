"""reminders and escalation: rules, the delivery log (unique delivery key), in-app notifications

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reminder_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("escalate_after_days", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.String(length=200), nullable=False),
        sa.Column("escalation_recipients", sa.String(length=200), nullable=True),
        sa.Column("channels", sa.String(length=100), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_reminder_rule_kind", "reminder_rule", ["kind"])
    op.create_table(
        "reminder_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(length=30), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("occasion", sa.String(length=20), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("recipient_type", sa.String(length=10), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("target_area_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["rule_id"], ["reminder_rule.id"]),
        sa.ForeignKeyConstraint(["target_area_id"], ["area.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "target_type", "target_id", "occasion", "level", "recipient_type",
                            "recipient_id", "channel", name="uq_reminder_delivery_key"),
    )
    op.create_index("ix_reminder_delivery_state_due", "reminder_delivery", ["state", "next_attempt_at"])
    op.create_index("ix_reminder_delivery_target_area_id", "reminder_delivery", ["target_area_id"])
    op.create_index("ix_reminder_delivery_lease", "reminder_delivery",
                    ["lease_token", "recipient_id", "rule_id", "level"])
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rule_id"], ["reminder_rule.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_user_read", "notification", ["user_id", "read_at"])
    op.create_index("ix_notification_rule_id", "notification", ["rule_id"])
    op.create_index("ix_notification_created_at", "notification", ["created_at"])


def downgrade():
    op.drop_table("notification")
    op.drop_table("reminder_delivery")
    op.drop_table("reminder_rule")
