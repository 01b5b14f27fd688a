"""unit quarterly co-building reports (单位季度共建情况报告)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 12:00:00

The reminder rule ``unit_report_missing`` now watches these reports instead of unit service
records; its shipped description and template are reworded where an admin has not edited them.
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# (column, text before this revision, text after it) of the shipped rule ``unit_report_missing``.
RULE_TEXTS = (
    ("template", "{unit}本季度尚未向{area}报送共建工作情况，请于{quarter_end}前报送。",
     "{unit}尚未向{area}提交本季度（{quarter}）共建情况报告，请于{quarter_end}前提交。"),
    ("description", "季度结束前N天，本季度未报送共建工作（单位服务记录）的报到单位",
     "季度结束前N天，提醒本季度尚未提交季度共建情况报告的已确认报到单位联络员及社区管理员"),
)


def upgrade():
    op.create_table(
        "unit_report",
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("activities", sa.Integer(), nullable=True),
        sa.Column("members_served", sa.Integer(), nullable=True),
        sa.Column("people_served", sa.Integer(), nullable=True),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.Column("next_plan", sa.Text(), nullable=True),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("submitted_by", sa.String(length=50), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"]),
        sa.ForeignKeyConstraint(["checkin_id"], ["unit_checkin.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["area.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("checkin_id", "quarter", name="uq_unit_report_checkin_quarter"),
    )
    for column in ("area_id", "checkin_id", "community_id", "unit_id"):
        op.create_index(f"ix_unit_report_{column}", "unit_report", [column])
    _reword_rule(before=1, after=2)


def downgrade():
    _reword_rule(before=2, after=1)
    for column in ("unit_id", "community_id", "checkin_id", "area_id"):
        op.drop_index(f"ix_unit_report_{column}", table_name="unit_report")
    op.drop_table("unit_report")


def _reword_rule(before, after):
    """Reword the shipped rule only where it still says exactly what was shipped."""
    rule = sa.table("reminder_rule", sa.column("code", sa.String), sa.column("template", sa.Text),
                    sa.column("description", sa.Text))
    for texts in RULE_TEXTS:
        column = rule.c[texts[0]]
        op.execute(rule.update().where(rule.c.code == "unit_report_missing", column == texts[before])
                   .values({texts[0]: texts[after]}))
