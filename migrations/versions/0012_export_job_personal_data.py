"""export jobs record whether their file shows personal data in full

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 10:00:00

A file made with ID-card and phone numbers in full is refused to its requester once they no
longer hold ``can_view PersonalData``. Jobs made before this revision by a user who holds the
permission now are marked (their files may hold personal data in full); the others stay false.
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

HOLDERS = """
SELECT ur.user_id FROM ab_user_role ur
JOIN ab_permission_view_role pvr ON pvr.role_id = ur.role_id
JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id
JOIN ab_permission p ON p.id = pv.permission_id
JOIN ab_view_menu v ON v.id = pv.view_menu_id
WHERE p.name = 'can_view' AND v.name = 'PersonalData'
"""


def upgrade():
    with op.batch_alter_table("export_job") as batch_op:
        batch_op.add_column(sa.Column("personal_data_unmasked", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(sa.text(f"UPDATE export_job SET personal_data_unmasked = :yes "
                       f"WHERE kind = 'list' AND created_by_id IN ({HOLDERS})").bindparams(yes=True))


def downgrade():
    with op.batch_alter_table("export_job") as batch_op:
        batch_op.drop_column("personal_data_unmasked")
