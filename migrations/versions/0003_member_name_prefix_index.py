"""member name prefix index (PostgreSQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:00:00

"name starts with" filters use LIKE 'x%' on PostgreSQL, which needs a text_pattern_ops index
under a non-C collation. SQLite serves the same filter from ix_party_member_name with a range.
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_party_member_name_prefix", "party_member", ["name"],
                        postgresql_ops={"name": "text_pattern_ops"})


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_party_member_name_prefix", table_name="party_member")
